import { createRequire } from 'node:module';
import type { Twilio } from 'twilio';
import { z } from 'zod';
import { delivered, errorText, failed } from './outcome.ts';
import type { Charge, ContactContext, SendOutcome } from './types.ts';

/** `contacts.data` of sms and voice contacts: an E.164 number, as Twilio wants it. */
export const phoneSchema = z
  .string('expected a string')
  .trim()
  .regex(/^\+[1-9]\d{1,14}$/, 'expected an E.164 phone number such as +15551234567');

const require = createRequire(import.meta.url);
/**
 * The SDK module, loaded when a text or call is first sent: it is ~23 MB of resident memory
 * that every worker would otherwise carry for contacts most clusters never use.
 */
export function twilioSdk(): typeof import('twilio') {
  return require('twilio') as typeof import('twilio');
}

/**
 * The real SDK. No keep-alive (a client lives for one delivery), no SDK-side retries
 * (the delivery stage owns retrying), and an empty `env` so nothing is read from the
 * process environment below the CLI.
 */
export function twilioSdkClient(accountSid: string, authToken: string): Twilio {
  return twilioSdk()(accountSid, authToken, { env: {}, keepAlive: false, autoRetry: false, timeout: 15_000, logLevel: 'info' });
}

export type OpenTwilio = { ok: true; client: Twilio; from: string } | { ok: false; outcome: SendOutcome };

/** A client for `[twilio]`, or the permanent failure saying what is missing. */
export function openTwilio(ctx: ContactContext): OpenTwilio {
  const { accountSid, authToken, from } = ctx.twilio;
  if (!accountSid || !authToken || !from) {
    return { ok: false, outcome: failed(ctx, false, 'Twilio is not configured: [twilio] accountSid, authToken and from are required') };
  }
  try {
    return { ok: true, client: ctx.createTwilioClient(accountSid, authToken), from };
  } catch (err) {
    return { ok: false, outcome: failed(ctx, false, `cannot set up Twilio client: ${errorText(err)}`) };
  }
}

const sidSchema = z.string().regex(/^[A-Z]{2}[0-9a-fA-F]{32}$/);

/** Twilio took the message or call: its SID is what gets charged. */
export function twilioAccepted(ctx: ContactContext, type: Charge['type'], sid: unknown, what: string): SendOutcome {
  const parsed = sidSchema.safeParse(sid);
  if (!parsed.success) return delivered(ctx, `${what} accepted by Twilio without a usable SID (value ${JSON.stringify(sid)})`);
  return delivered(ctx, `${what} accepted by Twilio as ${parsed.data}`, { type, sid: parsed.data });
}

/**
 * A Twilio error reply (RestException) keeps its code and message; 4xx means the request
 * itself is wrong (invalid number, bad credentials) and will not get better, except 408 and
 * 429, which ask to come back later. 5xx and network errors are worth retrying.
 */
export function twilioFailure(ctx: ContactContext, err: unknown): SendOutcome {
  if (err instanceof twilioSdk().RestException) {
    const status = err.status;
    const code = err.code ? ` ${err.code}` : '';
    const more = err.moreInfo ? ` (${err.moreInfo})` : '';
    const retry = status >= 500 || status === 408 || status === 429 || status < 400;
    return failed(ctx, retry, `Twilio error${code} (HTTP ${status}): ${err.message}${more}`);
  }
  return failed(ctx, true, `Twilio request failed: ${errorText(err)}`);
}
