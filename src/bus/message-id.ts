import { randomBytes } from 'node:crypto';

/**
 * A JetStream message id nobody else can guess. The stream drops a second message with an
 * id it saw in the last two minutes, whoever sent it and on whatever subject: an id built
 * only from what others can read (an assignment id, a view number) would let any
 * credential publish it first and have the real record dropped. The random part is made
 * once per message and kept across its retries, so a retried publish is still stored once.
 */
export function unguessableId(readable: string): string {
  return `${readable}.${randomBytes(9).toString('base64url')}`;
}
