import { z } from 'zod';
import { clip } from '../text.ts';
import { mailBody, mailSubject } from './message.ts';
import { apiBase, callAndJudge, field, jsonObjectData, brief, secretString, type ApiReply, type Target } from './incident-api.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

/** The Message API; tests replace the base with `ctx.endpoints.pushover`. */
export const PUSHOVER_API = 'https://api.pushover.net/';

const KEY = /^[A-Za-z0-9]{30}$/;

/**
 * `contacts.data` of a pushover contact: a JSON object with the application's API token
 * and the user (or group) key, both 30 letters and digits, and optionally the devices to
 * notify (comma-separated names; default all of the user's):
 * `{"token":"azGDORePK8gMaC0QOYAMyEEuzJnyUi","user":"uQiRzpo4DXghDmr9QzzfQu27cmVRsG","device":"phone"}`.
 */
export const schema = jsonObjectData(
  z.object({
    token: secretString(KEY, 'a Pushover application API token of 30 letters and digits'),
    user: secretString(KEY, 'a Pushover user or group key of 30 letters and digits'),
    device: z
      .string('expected a string')
      .regex(/^[A-Za-z0-9_-]{1,25}(,[A-Za-z0-9_-]{1,25})*$/, 'expected device names of letters, digits, "_" and "-" separated by commas')
      .optional(),
  }),
  '{"token":"<application token>","user":"<user key>"}',
);

/**
 * The form fields (Pushover's limits: message 1024, title 250 characters). An outage is
 * priority 1 (high: it sounds even in the user's quiet hours), a recovery 0.
 */
export function pushoverFields(data: z.output<typeof schema>, n: Notification): Record<string, string> {
  return {
    token: data.token,
    user: data.user,
    ...(data.device ? { device: data.device } : {}),
    title: clip(mailSubject(n), 250),
    message: clip(mailBody(n), 1024),
    priority: n.status === 'offline' ? '1' : '0',
    timestamp: String(Math.floor(n.at.getTime() / 1000)),
  };
}

/** 200 `{status: 1, request}`; 4xx `{status: 0, errors: [...], request}`. */
const shapes = {
  success: (reply: ApiReply) => (field(reply.json, 'status') === 1 ? `request ${String(field(reply.json, 'request'))}` : undefined),
  explain: (reply: ApiReply) => {
    const errors = field(reply.json, 'errors');
    return brief(Array.isArray(errors) ? errors.map(String).join('; ') : '');
  },
};

/** A form POST to /1/messages.json. Pushover takes no idempotency key: an unknown outcome is not resent. */
export async function send(data: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const url = new URL('1/messages.json', apiBase(ctx, 'pushover', PUSHOVER_API));
  const target: Target = { name: `Pushover ${url.host}`, secrets: [data.token, data.user], idempotent: false };
  return callAndJudge(ctx, target, { method: 'POST', url, form: pushoverFields(data, n) }, shapes);
}

export const pushoverContact = defineContact({ type: 'pushover', schema, send, secrets: (data) => [data.token, data.user] });
