import type { z } from 'zod';
import { voiceText } from './message.ts';
import { openTwilio, phoneSchema, twilioAccepted, twilioFailure, twilioSdk } from './twilio.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

export const schema = phoneSchema;

/**
 * `<Response><Say>…</Say></Response>`, built by the SDK so the check's name and message are
 * XML-escaped. Sent inline (Twiml), where gobearmon pointed Twilio at a twimlets.com URL.
 */
export function callTwiml(n: Notification): string {
  const response = new (twilioSdk().twiml.VoiceResponse)();
  response.say(voiceText(n));
  return response.toString();
}

/** A Twilio call From = [twilio] from, To = the contact, speaking the notification. */
export async function send(to: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const opened = openTwilio(ctx);
  if (!opened.ok) return opened.outcome;
  try {
    const call = await opened.client.calls.create({ to, from: opened.from, twiml: callTwiml(n) });
    return twilioAccepted(ctx, 'voice', call.sid, `call to ${to}`);
  } catch (err) {
    return twilioFailure(ctx, err);
  }
}

export const voiceContact = defineContact({ type: 'voice', schema, send });
