import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { redactText } from '../redact.ts';
import { describeIssues } from '../validation.ts';
import { emailContact, smtpTransport } from './email.ts';
import { httpContact, postFormOverHttp, webhookContact } from './http.ts';
import { delivered, errorText, failed } from './outcome.ts';
import { jsonContact } from './json.ts';
import { ntfyContact } from './ntfy.ts';
import { telegramContact } from './telegram.ts';
import { discordContact } from './discord.ts';
import { teamsContact } from './teams.ts';
import { mattermostContact } from './mattermost.ts';
import { slackContact } from './slack.ts';
import { smsContact } from './sms.ts';
import { twilioSdkClient } from './twilio.ts';
import type { ContactContext, ContactType, Notification, SendOutcome } from './types.ts';
import { voiceContact } from './voice.ts';
import { gotifyContact } from './gotify.ts';
import { matrixContact } from './matrix.ts';
import { opsgenieContact } from './opsgenie.ts';
import { pagerdutyContact } from './pagerduty.ts';
import { pushoverContact } from './pushover.ts';

/** Every contact type bearmon knows. Adding a type means adding its file and one line here. */
export const builtinContactTypes: readonly ContactType[] = [
  emailContact, smsContact, voiceContact, httpContact, webhookContact,
  slackContact, mattermostContact, discordContact, teamsContact, telegramContact, ntfyContact, jsonContact,
  pagerdutyContact, opsgenieContact, gotifyContact, pushoverContact, matrixContact,
];

export type ContactRegistry = ReadonlyMap<string, ContactType>;

/** Builds the lookup table; refuses to start on a duplicate type name. */
export function createContactRegistry(types: readonly ContactType[] = builtinContactTypes): ContactRegistry {
  const registry = new Map<string, ContactType>();
  for (const contact of types) {
    if (registry.has(contact.type)) throw new Error(`duplicate contact type ${JSON.stringify(contact.type)} in registry`);
    registry.set(contact.type, contact);
  }
  return registry;
}

export type PreparedContact =
  | { ok: true; contact: ContactType; params: unknown }
  | { ok: false; message: string };

/**
 * Understands a `contacts` row's type and data without sending anything. The message
 * names the field and the value, e.g. `data: expected an E.164 phone number ... (value "555")`.
 */
export function prepareContact(registry: ContactRegistry, type: string, data: unknown): PreparedContact {
  const contact = registry.get(type);
  if (!contact) return { ok: false, message: `type: unknown contact type ${JSON.stringify(type)}` };
  const parsed = contact.schema.safeParse(data);
  if (parsed.success) return { ok: true, contact, params: parsed.data };
  // Only a failure re-parses with the input attached, to name the value.
  return { ok: false, message: describeIssues(contact.schema.safeParse(data, { reportInput: true }).error!, 'data') };
}

/** The production context: real SMTP, real Twilio, real HTTP. Tests override single parts. */
export function createContactContext(
  config: Pick<Config, 'smtp' | 'twilio'>,
  log: Logger,
  overrides: Partial<Omit<ContactContext, 'smtp' | 'twilio' | 'log'>> = {},
): ContactContext {
  return {
    smtp: config.smtp,
    twilio: config.twilio,
    createMailTransport: smtpTransport,
    createTwilioClient: twilioSdkClient,
    postForm: postFormOverHttp,
    // gobearmon's http.PostForm had none; 10 s keeps one dead receiver from stalling delivery.
    httpTimeoutMs: 10_000,
    now: Date.now,
    log,
    ...overrides,
  };
}

/**
 * One delivery attempt through a prepared contact, logged. Never throws: a crash inside a
 * contact type is a failed attempt worth retrying (the delivery stage bounds retries).
 * Pass `ctx.log` as a child logger carrying the contact id.
 */
export async function sendNotification(prepared: Extract<PreparedContact, { ok: true }>, notification: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const { contact, params } = prepared;
  const secrets = contact.secrets?.(params) ?? [];
  let outcome: SendOutcome;
  try {
    const raw = await contact.send(params, notification, ctx);
    // Redacted again here (the data's own secrets too) so a contact type that forgot cannot leak one.
    outcome = raw.ok ? delivered(ctx, redactText(raw.detail, secrets), raw.charge) : failed(ctx, raw.retry, redactText(raw.error, secrets), raw.retryAfterMs);
  } catch (err) {
    outcome = failed(ctx, true, redactText(`${contact.type} contact crashed: ${errorText(err)}`, secrets));
  }
  return logged(ctx, contact.type, notification, outcome);
}

/** One line per attempt, with the check, notification and contact type. */
function logged(ctx: ContactContext, contactType: string, notification: Notification, outcome: SendOutcome): SendOutcome {
  const fields = { checkId: notification.check.id, notificationId: notification.id, contactType };
  if (outcome.ok) {
    ctx.log.info({ ...fields, detail: outcome.detail, charge: outcome.charge }, 'notification delivered');
  } else {
    ctx.log.warn({ ...fields, retry: outcome.retry, error: outcome.error }, 'notification delivery failed');
  }
  return outcome;
}

/**
 * Prepares and sends in one step (e.g. `bearmon contact test`). Data that cannot be
 * understood is a permanent failure naming the field; it never throws.
 */
export async function sendToContact(
  registry: ContactRegistry,
  type: string,
  data: unknown,
  notification: Notification,
  ctx: ContactContext,
): Promise<SendOutcome> {
  const prepared = prepareContact(registry, type, data);
  if (prepared.ok) return sendNotification(prepared, notification, ctx);
  return logged(ctx, type, notification, failed(ctx, false, prepared.message));
}
