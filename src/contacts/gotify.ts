import { z } from 'zod';
import { decodeLenient } from '../redact.ts';
import { clip } from '../text.ts';
import { mailBody, mailSubject } from './message.ts';
import { callAndJudge, field, jsonObjectData, brief, secretString, serverUrl, nonEmpty, withSlash, type ApiReply, type Target } from './incident-api.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

/**
 * `contacts.data` of a gotify contact: a JSON object with the server's URL (a path prefix
 * such as `/gotify` is kept) and an application token:
 * `{"server":"https://push.example.com","token":"AbCdEf.123-xyz_Q"}`.
 */
export const schema = jsonObjectData(
  z.object({
    server: serverUrl,
    token: secretString(/^[A-Za-z0-9._-]{4,128}$/, 'a Gotify application token (letters, digits, ".", "-", "_")'),
  }),
  '{"server":"https://push.example.com","token":"<application token>"}',
);

/**
 * Gotify's clients alert at 8 and above (heads-up, sound), so an outage is 8 and a
 * recovery a plain 4.
 */
export const PRIORITY = { offline: 8, online: 4 } as const;

export function gotifyMessage(n: Notification): { title: string; message: string; priority: number } {
  return { title: clip(mailSubject(n), 250), message: clip(mailBody(n), 4000), priority: PRIORITY[n.status] };
}

/** 200 with the stored message `{id, appid, ...}`; errors `{error, errorCode, errorDescription}`. */
const shapes = {
  success: (reply: ApiReply) => (typeof field(reply.json, 'id') === 'number' ? `message ${String(field(reply.json, 'id'))}` : undefined),
  explain: (reply: ApiReply) => brief([nonEmpty(field(reply.json, 'error')), nonEmpty(field(reply.json, 'errorDescription'))].filter(Boolean).join(': ')),
};

/**
 * POST /message with the token in X-Gotify-Key (not the query string, where proxies log
 * it). Gotify takes no idempotency key: an attempt whose outcome is unknown is not resent.
 */
export async function send(data: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const url = new URL('message', withSlash(data.server));
  const target: Target = { name: `Gotify ${url.host}`, secrets: secrets(data), idempotent: false };
  return callAndJudge(ctx, target, { method: 'POST', url, headers: { 'X-Gotify-Key': data.token }, json: gotifyMessage(n) }, shapes);
}

function secrets(data: z.output<typeof schema>): string[] {
  return [data.token, ...(data.server.password ? [data.server.password, decodeLenient(data.server.password)] : [])];
}

export const gotifyContact = defineContact({ type: 'gotify', schema, send, secrets });
