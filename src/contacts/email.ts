import { createRequire } from 'node:module';
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import { mailBody, mailSubject } from './message.ts';
import { delivered, errorText, failed } from './outcome.ts';
import { defineContact, type ContactContext, type MailTransport, type Notification, type SendOutcome } from './types.ts';

/** `contacts.data` of an e-mail contact: one address (surrounding blanks ignored). */
export const schema = z
  .string('expected a string')
  .trim()
  .pipe(z.email('expected an e-mail address such as ops@example.com').max(254, 'expected at most 254 characters'));

const require = createRequire(import.meta.url);
/** nodemailer, loaded when a mail is first sent (~6 MB a worker need not carry until then). */
const nodemailer = () => require('nodemailer') as typeof import('nodemailer');

/**
 * nodemailer's SMTP transport over `[smtp]`: implicit TLS on 465, otherwise STARTTLS when
 * the server offers it (as gobearmon's gomail did). One connection per delivery; timeouts
 * shorter than nodemailer's minutes so a hung server cannot stall the delivery stage.
 */
export function smtpTransport(smtp: Config['smtp']): MailTransport {
  return nodemailer().createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.port === 465,
    auth: smtp.username ? { user: smtp.username, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
    logger: false,
    debug: false,
  });
}

/** Message-ID from the notification id, so a mail sent twice can be recognised as one. */
function messageId(n: Notification): string {
  return `<${n.id.replace(/[^A-Za-z0-9._-]/g, '_')}@bearmon>`;
}

export async function send(to: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const { host, port, from } = ctx.smtp;
  if (!host || !from) return failed(ctx, false, 'e-mail is not configured: [smtp] host and from are required');
  let transport: MailTransport;
  try {
    transport = ctx.createMailTransport(ctx.smtp);
  } catch (err) {
    return failed(ctx, false, `cannot set up SMTP transport: ${errorText(err)}`);
  }
  try {
    const info = await transport.sendMail({
      from,
      to,
      subject: mailSubject(n),
      text: mailBody(n),
      date: new Date(ctx.now()),
      messageId: messageId(n),
      headers: { 'X-Bearmon-Notification': n.id },
    });
    return delivered(ctx, `mail to ${to} accepted by ${host}:${port}: ${info.response ?? 'no response text'}`);
  } catch (err) {
    return mailFailure(ctx, `${host}:${port}`, err);
  } finally {
    transport.close();
  }
}

/**
 * SMTP says itself whether to try again: 4xx replies are temporary, 5xx permanent. Without
 * a reply code the server was unreachable or hung up (retry), unless nodemailer refused the
 * message before talking to anyone (no recipients, a bad message: permanent).
 */
export function mailFailure(ctx: ContactContext, server: string, err: unknown): SendOutcome {
  const { responseCode, code } = (err ?? {}) as { responseCode?: number; code?: string };
  const text = `SMTP ${server}: ${errorText(err)}`;
  if (typeof responseCode === 'number') return failed(ctx, responseCode < 500, text);
  return failed(ctx, code !== 'EENVELOPE' && code !== 'EMESSAGE', text);
}

export const emailContact = defineContact({ type: 'email', schema, send });
