import { redactText } from '../redact.ts';
import type { Charge, ContactContext, SendOutcome } from './types.ts';

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * Every form in which a configured secret could come back to us: as typed, and as the
 * SMTP AUTH (PLAIN, LOGIN) and HTTP Basic encodings a server might echo in an error.
 */
export function secretForms(ctx: Pick<ContactContext, 'smtp' | 'twilio'>): string[] {
  const forms: string[] = [];
  const { username = '', password } = ctx.smtp;
  if (password) forms.push(password, base64(password), base64(`\0${username}\0${password}`), base64(`${username}\0${password}`));
  const { accountSid = '', authToken } = ctx.twilio;
  if (authToken) forms.push(authToken, base64(authToken), base64(`${accountSid}:${authToken}`));
  // Longest first, so a secret that contains another is replaced whole.
  return forms.filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

/** Replaces every secret form in a text we are about to return or log (src/redact.ts). */
export function redact(ctx: Pick<ContactContext, 'smtp' | 'twilio'>, text: string): string {
  return redactText(text, secretForms(ctx));
}

export function delivered(ctx: ContactContext, detail: string, charge?: Charge): SendOutcome {
  return charge ? { ok: true, detail: redact(ctx, detail), charge } : { ok: true, detail: redact(ctx, detail) };
}

export function failed(ctx: ContactContext, retry: boolean, error: string, retryAfterMs?: number): SendOutcome {
  return retryAfterMs === undefined ? { ok: false, retry, error: redact(ctx, error) } : { ok: false, retry, error: redact(ctx, error), retryAfterMs };
}

/** Message of anything thrown, without its stack or attached request objects. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}
