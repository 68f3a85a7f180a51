import type { z } from 'zod';
import type { Twilio } from 'twilio';
import type { SendMailOptions } from 'nodemailer';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { PartialOutage } from '../notify/partial.ts';

/** One alert owed to one contact: what changed, when, and who confirmed it. */
export interface Notification {
  /** Stable across retries and controllers: receivers use it as an idempotency key. */
  id: string;
  check: { id: number; name: string; type: string; data: string };
  status: 'online' | 'offline';
  /** The check's message from the result that completed the change. */
  message: string;
  /** When the transition happened (not when this notification is sent); a reminder: when its slot came. */
  at: Date;
  /** Workers whose results confirmed the change. */
  workers: string[];
  /** When the outage began, on a recovery (online) notification and on reminders: they say how long it lasted until `at`. */
  offlineSince?: Date;
  /** A reminder's slot number (1, 2, …): the check is still offline at `at`. */
  reminder?: number;
  /**
   * A partial outage (issue 17) that began (`status` offline) or ended (`status` online):
   * `down` regions see the check offline, `up` regions online. Its check's status is unchanged.
   */
  partial?: PartialOutage;
}

/** A Twilio SID that costs money: the delivery stage records it in `charges`. */
export interface Charge {
  type: 'sms' | 'voice';
  sid: string;
}

/**
 * How one delivery attempt ended. `retry` says whether the same attempt could succeed
 * later (a server down, a 5xx) or never will (a rejected address, a 4xx): the delivery
 * stage retries only the former. Texts never contain a configured secret. `retryAfterMs` is
 * the wait a rate-limited vendor asked for (Retry-After, retry_after): the delivery stage
 * waits at least that long, up to its backoff cap, before the next try.
 */
export type SendOutcome =
  | { ok: true; detail: string; charge?: Charge }
  | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** The part of a nodemailer transporter a delivery uses. */
export interface MailTransport {
  sendMail(message: SendMailOptions): Promise<{ response?: string }>;
  close(): void;
}

/** Opens a mail transport for one delivery. */
export type MailTransportFactory = (smtp: Config['smtp']) => MailTransport;

/** Builds a Twilio REST client; tests return one whose httpClient talks to a local server. */
export type TwilioClientFactory = (accountSid: string, authToken: string) => Twilio;

export interface FormPostOptions {
  headers: Record<string, string>;
  /** Covers the whole exchange: connect, send, response headers. */
  timeoutMs: number;
}

/** The response's status line; rejects on network errors and timeouts. */
export type FormPoster = (
  url: URL,
  fields: Record<string, string>,
  options: FormPostOptions,
) => Promise<{ status: number; location?: string }>;

/** Everything a contact type may touch besides its data: injected, never global. */
export interface ContactContext {
  smtp: Config['smtp'];
  twilio: Config['twilio'];
  createMailTransport: MailTransportFactory;
  createTwilioClient: TwilioClientFactory;
  postForm: FormPoster;
  /** Deadline of one webhook delivery. */
  httpTimeoutMs: number;
  /** Milliseconds since the epoch: the Date header of mails. */
  now: () => number;
  log: Logger;
  /**
   * Base URL of a hosted vendor's API by contact type (e.g. `pagerduty`); unset, each type
   * uses the vendor's own. Production leaves it empty: tests point it at a local receiver.
   */
  endpoints?: Readonly<Partial<Record<string, string>>>;
}

/** One contact type: the schema of `contacts.data` and one send function. */
export interface ContactType<S extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly schema: S;
  /**
   * The receiver recognises a repeat of the same notification id (an Idempotency-Key), so
   * an attempt whose outcome is unknown may be sent again. Mail, SMS and calls cannot be
   * taken back: for them an unknown outcome is never resent.
   */
  readonly idempotent?: boolean;
  /**
   * The values in the data that must never be printed (API keys, tokens): every outcome
   * and log line of this type is redacted with them, as with the configured secrets.
   */
  secrets?(data: z.output<S>): string[];
  /** Never throws for delivery problems: they come back as an outcome. */
  send(data: z.output<S>, notification: Notification, ctx: ContactContext): Promise<SendOutcome>;
}

/** Identity helper that keeps the schema's output type attached to `send`. */
export function defineContact<S extends z.ZodType>(contact: ContactType<S>): ContactType<S> {
  return contact;
}
