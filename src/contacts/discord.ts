import type { z } from 'zod';
import { clip } from '../text.ts';
import { detailLines, headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { deliver, urlSecrets, webhookUrlSchema } from './vendor-http.ts';

/**
 * `contacts.data` of a discord contact: the webhook URL,
 * `https://discord.com/api/webhooks/<id>/<token>` (the token is the secret).
 */
export const schema = webhookUrlSchema;

const RED = 0xd93f0b;
const GREEN = 0x2da44e;

/**
 * `content` carries the headline (what phones show), an embed the details. Mentions are
 * switched off: a check named `@everyone` must not page a whole server.
 */
export function discordPayload(n: Notification): unknown {
  return {
    content: clip(headline(n), 2000),
    embeds: [{ description: clip(detailLines(n).join('\n'), 4096), color: n.status === 'online' ? GREEN : RED, timestamp: n.at.toISOString() }],
    allowed_mentions: { parse: [] },
  };
}

/**
 * Discord answers 204 (200 with `?wait=true` in the URL); refusals are JSON `{message,
 * code}`, a rate limit a 429 with `retry_after` seconds. Execute Webhook takes no
 * idempotency key, so an unknown outcome is not resent.
 */
export async function send(url: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const who = { target: `discord webhook ${url.host}`, secrets: urlSecrets(url) };
  return deliver(ctx, who, url, { contentType: 'application/json', body: JSON.stringify(discordPayload(n)) });
}

export const discordContact = defineContact({ type: 'discord', schema, send, secrets: urlSecrets });
