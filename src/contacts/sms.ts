import type { z } from 'zod';
import { smsText } from './message.ts';
import { openTwilio, phoneSchema, twilioAccepted, twilioFailure } from './twilio.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

export const schema = phoneSchema;

/** A Twilio message From = [twilio] from, To = the contact, Body = gobearmon's one-liner. */
export async function send(to: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const opened = openTwilio(ctx);
  if (!opened.ok) return opened.outcome;
  try {
    const message = await opened.client.messages.create({ to, from: opened.from, body: smsText(n) });
    return twilioAccepted(ctx, 'sms', message.sid, `SMS to ${to}`);
  } catch (err) {
    return twilioFailure(ctx, err);
  }
}

export const smsContact = defineContact({ type: 'sms', schema, send });
