import type { z } from 'zod';
import { detailLines, headline } from './message.ts';
import type { ContactContext, Notification, SendOutcome } from './types.ts';
import { defineContact } from './types.ts';
import { deliver, urlSecrets, webhookUrlSchema } from './vendor-http.ts';

/**
 * `contacts.data` of a mattermost contact: the incoming webhook URL,
 * `https://chat.example.com/hooks/<key>` (the key is the secret).
 */
export const schema = webhookUrlSchema;

/** Markdown characters that would turn a check name into formatting or a link. */
const escapeMarkdown = (text: string) => text.replace(/([\\`*_[\]()#|<>~@])/g, '\\$1');

/** Mattermost's `text` is Markdown: the headline bold, then the details. */
export function mattermostPayload(n: Notification): { text: string } {
  return { text: [`**${escapeMarkdown(headline(n))}**`, ...detailLines(n).map(escapeMarkdown)].join('\n') };
}

/**
 * Mattermost answers 200 `ok`; refusals are JSON `{id, message, detailed_error,
 * status_code}`. No idempotency key, so an unknown outcome is not resent.
 */
export async function send(url: z.output<typeof schema>, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const who = { target: `mattermost webhook ${url.host}`, secrets: urlSecrets(url) };
  return deliver(ctx, who, url, { contentType: 'application/json', body: JSON.stringify(mattermostPayload(n)) });
}

export const mattermostContact = defineContact({ type: 'mattermost', schema, send, secrets: urlSecrets });
