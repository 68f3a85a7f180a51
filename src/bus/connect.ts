import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.ts';
import { decodeLenient, splitUrlUserinfo } from '../redact.ts';
import { inboxPrefix } from './permissions.ts';

export type { NatsConnection };

/**
 * Server URLs may carry credentials (nats://user:password@host:port), as operators write
 * them for the NATS CLI; the client wants them as options, so they are split off here.
 */
export function natsOptions(urls: string[]): Pick<ConnectionOptions, 'servers' | 'user' | 'pass'> {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = urls.map((raw) => {
    // Split as src/redact.ts masks it: a password may hold `@` or a literal `%` (50%off).
    const parts = splitUrlUserinfo(raw);
    if (!parts) return raw;
    user ??= parts.user ? decodeLenient(parts.user) : undefined;
    pass ??= parts.password === undefined ? undefined : decodeLenient(parts.password);
    return `${parts.scheme}${parts.rest}`;
  });
  return { servers, user, pass };
}

/** The configured servers and credentials ([nats] user/password, else from the URL), and this user's reply prefix. */
export function busOptions(nats: Config['nats']): { servers: string[]; user?: string; pass?: string; inboxPrefix?: string } {
  const fromUrls = natsOptions(nats.url);
  const user = nats.user ?? fromUrls.user;
  // Replies come back under this user's own prefix: nats.conf lets nobody else read them.
  return { servers: fromUrls.servers as string[], user, pass: nats.password ?? fromUrls.pass, inboxPrefix: user ? inboxPrefix(user) : undefined };
}

/** Connects to NATS with the configured servers and credentials; retries forever on loss. */
export function connectBus(nats: Config['nats'], name: string): Promise<NatsConnection> {
  return connect({
    ...busOptions(nats),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // An Error (with its stack) per request/publish for async traces costs ~20 % of the
    // controller's CPU at scale (measured by the controller bench); errors still say what failed.
    noAsyncTraces: true,
  });
}
