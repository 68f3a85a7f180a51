import { z } from 'zod';
import { decodeLenient } from '../redact.ts';
import { detailLines, headline } from './message.ts';
import { callAndJudge, field, jsonObjectData, brief, secretString, serverUrl, nonEmpty, withSlash, type ApiReply, type Target } from './incident-api.ts';
import { defineContact, type ContactContext, type Notification, type SendOutcome } from './types.ts';

/**
 * `contacts.data` of a matrix contact: a JSON object with the homeserver's URL, the
 * access token of the (bot) account that sends, and the room id (not an alias; the
 * account must have joined the room):
 * `{"homeserver":"https://matrix.example.org","token":"syt_Ym90_abcdefghij_0123","room":"!AbCdEf:example.org"}`.
 */
export const schema = jsonObjectData(
  z.object({
    homeserver: serverUrl,
    // The characters homeservers issue (Synapse: syt_<base64>_<random>_<crc>); no blank or quote.
    token: secretString(/^[A-Za-z0-9._~+/=-]{8,400}$/, 'a Matrix access token'),
    room: z
      .string('expected a string')
      .trim()
      .regex(/^![^\s:/]+(:[^\s/]+)?$/, 'expected a room id such as !AbCdEf:example.org (an alias #name:server is not accepted)')
      .max(255, 'expected at most 255 characters'),
  }),
  '{"homeserver":"https://matrix.example.org","token":"<access token>","room":"!AbCdEf:example.org"}',
);

/**
 * The m.room.message content: an m.notice (the msgtype meant for bots, which other bots
 * do not answer), the headline then time, workers and notification id.
 */
export function matrixContent(n: Notification): { msgtype: 'm.notice'; body: string } {
  return { msgtype: 'm.notice', body: [headline(n), ...detailLines(n)].join('\n') };
}

/**
 * The transaction id is the notification id: the homeserver answers a repeated PUT with
 * the same txnId (same access token) with the event it already sent, so a resend after an
 * unknown outcome never posts the message twice.
 */
export function sendPath(room: string, n: Notification): string {
  return `_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/${encodeURIComponent(n.id)}`;
}

/** 200 `{event_id}`; errors `{errcode, error}` (429 is M_LIMIT_EXCEEDED with retry_after_ms). */
const shapes = {
  success: (reply: ApiReply) => {
    const eventId = nonEmpty(field(reply.json, 'event_id'));
    return eventId === undefined ? undefined : `event ${eventId}`;
  },
  explain: (reply: ApiReply) => brief([nonEmpty(field(reply.json, 'errcode')), nonEmpty(field(reply.json, 'error'))].filter(Boolean).join(': ')),
  retryAfterMs: (reply: ApiReply) => {
    const ms = field(reply.json, 'retry_after_ms');
    return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  },
};

export async function send(data: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const url = new URL(sendPath(data.room, n), withSlash(data.homeserver));
  const target: Target = { name: `Matrix ${url.host} room ${data.room}`, secrets: secrets(data), idempotent: true };
  return callAndJudge(ctx, target, { method: 'PUT', url, headers: { Authorization: `Bearer ${data.token}` }, json: matrixContent(n) }, shapes);
}

function secrets(data: z.output<typeof schema>): string[] {
  return [data.token, ...(data.homeserver.password ? [data.homeserver.password, decodeLenient(data.homeserver.password)] : [])];
}

export const matrixContact = defineContact({ type: 'matrix', schema, send, idempotent: true, secrets });
