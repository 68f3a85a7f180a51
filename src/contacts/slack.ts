import type { z } from 'zod';
import { clip } from '../text.ts';
import { detailLines, headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { deliver, urlSecrets, webhookUrlSchema } from './vendor-http.ts';

/**
 * `contacts.data` of a slack contact: the incoming webhook URL Slack gives out,
 * `https://hooks.slack.com/services/T…/B…/…` (its last segment is the secret).
 */
export const schema = webhookUrlSchema;

/** Slack's mrkdwn treats only these three as control characters. */
const escapeMrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack cuts a section's text at 3000 characters; `text` is the notification fallback. */
export function slackPayload(n: Notification): { text: string; blocks: unknown[] } {
  const title = escapeMrkdwn(headline(n));
  return {
    text: clip(title, 3000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(`*${title}*`, 3000) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(escapeMrkdwn(detailLines(n).join('\n')), 3000) }] },
    ],
  };
}

/**
 * Slack answers 200 `ok`; refusals are a plain-text code (`invalid_payload`,
 * `no_service`, `channel_is_archived`...), rate limits a 429 with Retry-After. Incoming
 * webhooks take no idempotency key, so an unknown outcome is not resent.
 */
export async function send(url: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const who = { target: `slack webhook ${url.host}`, secrets: urlSecrets(url) };
  return deliver(ctx, who, url, { contentType: 'application/json; charset=utf-8', body: JSON.stringify(slackPayload(n)) });
}

export const slackContact = defineContact({ type: 'slack', schema, send, secrets: urlSecrets });
