import { z } from 'zod';
import { detailLines, headline, mailSubject } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { deliver, jsonData, urlField, urlSecrets } from './vendor-http.ts';

export const NTFY_SERVER = 'https://ntfy.sh';

/**
 * `contacts.data` of an ntfy contact: a JSON object
 * `{"server": "https://ntfy.example.com", "topic": "ops-alerts", "token": "tk_…", "priority": 4}`.
 * `server` defaults to https://ntfy.sh (self-hosted servers may sit under a path, and may
 * carry `user:password@` for Basic auth); `token` (an access token, sent as Bearer) and
 * `priority` (1–5; default 4 for offline, 3 for online) are optional.
 */
export const schema = jsonData(
  {
    server: urlField.optional(),
    topic: z.string('expected a string').trim().regex(/^[-_A-Za-z0-9]{1,64}$/, 'expected a topic of 1-64 letters, digits, - and _'),
    token: z.string('expected a string').trim().regex(/^[\x21-\x7e]{1,256}$/, 'expected an access token such as tk_…').optional(),
    priority: z.number('expected a number from 1 to 5').int('expected a whole number from 1 to 5').min(1, 'expected 1 to 5').max(5, 'expected 1 to 5').optional(),
  },
  '{"topic": "ops-alerts"}',
);

type Data = z.output<typeof schema>;

/** The topic URL: the server's path (a reverse proxy's prefix) kept, the topic appended. */
export function topicUrl(data: Data): URL {
  const server = new URL(data.server ?? NTFY_SERVER);
  if (!server.pathname.endsWith('/')) server.pathname += '/';
  return new URL(data.topic, server);
}

/**
 * Header values travel as Latin-1 at best: a title with other characters goes RFC 2047
 * encoded, which ntfy decodes (since v2.4.0).
 */
export function headerText(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, 'utf8').toString('base64')}?=`;
}

export function ntfyRequest(data: Data, n: Notification): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {
    Title: headerText(mailSubject(n)),
    Priority: String(data.priority ?? (n.status === 'offline' ? 4 : 3)),
    // Emoji short codes ntfy shows in front of the title.
    Tags: n.status === 'offline' ? 'rotating_light' : 'white_check_mark',
  };
  if (data.token) headers.Authorization = `Bearer ${data.token}`;
  return { headers, body: [headline(n), '', ...detailLines(n)].join('\n') };
}

/**
 * POST <server>/<topic> with the text as body. ntfy answers 200 with the message as JSON;
 * refusals are `{code, http, error, link}` (401/403 auth, 429 rate limits: retried). On
 * ntfy.sh the topic works like a password, so texts name only the server.
 */
export async function send(data: Data, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const url = topicUrl(data);
  const who = { target: `ntfy ${url.host}`, secrets: secrets(data) };
  const { headers, body } = ntfyRequest(data, n);
  return deliver(ctx, who, url, { contentType: 'text/plain; charset=utf-8', headers, body });
}

export function secrets(data: Data): string[] {
  // A topic shorter than 4 characters is guessable anyway, and masking it would garble errors.
  return [...urlSecrets(topicUrl(data)), ...(data.topic.length >= 4 ? [data.topic] : []), ...(data.token ? [data.token] : [])];
}

export const ntfyContact = defineContact({ type: 'ntfy', schema, send, secrets });
