import { randomBytes } from 'node:crypto';
import { errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { decode, pong, type Pong } from '../bus/messages.ts';
import { pongOf, subject, wildcard } from '../bus/subjects.ts';
import type { Logger } from '../log.ts';
import { showValue } from '../validation.ts';

/**
 * Both ends of the viewserver's heartbeat. The viewserver publishes bearmon.ping.<worker>
 * with the reply subject bearmon.pong.<worker>.<nonce>; the worker answers there. Only that
 * worker's credential may publish under bearmon.pong.<worker> (nats.conf), so nobody else —
 * not the read-only operator, not another worker — can answer for it (SPEC §8); the nonce
 * ties the answer to one ping. A process that is gone has no subscription, and the server
 * says so at once with a 503 status on the reply subject ("no responders").
 */
export interface PingResponderDeps {
  nc: NatsConnection;
  id: string;
  /** ISO time this process started; the same value its heartbeats carry. */
  startedAt: string;
  /** Whether this process has what a controller needs (the database configuration). */
  canControl: boolean;
  log: Logger;
}

export interface PingResponder {
  stop(): void;
}

export function respondToPings(deps: PingResponderDeps): PingResponder {
  const pingSubject = subject.ping(deps.id);
  const answer: Pong = { type: 'pong', worker: deps.id, startedAt: deps.startedAt, canControl: deps.canControl };
  const payload = JSON.stringify(answer);
  const log = deps.log.child({ worker: deps.id });
  const onPing = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ subject: pingSubject, err: err.message }, 'ping subscription failed');
    // Answering costs nothing, and not answering is exactly what makes the viewserver replace us.
    if (pongOf(msg.reply ?? '')?.worker !== deps.id) return log.debug({ subject: pingSubject, reply: msg.reply }, 'ping without a pong subject of ours ignored');
    msg.respond(payload);
  };
  const subscription = deps.nc.subscribe(pingSubject, { callback: onPing });
  return { stop: () => subscription.unsubscribe() };
}

export type PingOutcome = { ok: true; pong: Pong } | { ok: false; reason: string };

export interface Pinger {
  /** One heartbeat of one worker: its valid pong, or why it counts as a miss. Never throws. */
  ping(worker: string, timeoutMs: number): Promise<PingOutcome>;
  stop(): void;
}

interface Waiting {
  worker: string;
  resolve(outcome: PingOutcome): void;
  timer: NodeJS.Timeout;
}

/** A pong is four short fields. */
const MAX_PONG_BYTES = 1024;

/** The viewserver's end: pings go out with a fresh nonce; answers are matched by subject. */
export async function createPinger(nc: NatsConnection, log: Logger, onUntrusted?: (reason: string) => void): Promise<Pinger> {
  const waiting = new Map<string, Waiting>();
  const settle = (nonce: string, outcome: PingOutcome) => {
    const entry = waiting.get(nonce);
    if (!entry) return;
    waiting.delete(nonce);
    clearTimeout(entry.timer);
    entry.resolve(outcome);
  };
  const onPong = (err: Error | null, msg: Msg) => {
    if (err) return log.error({ err: err.message }, 'pong subscription failed');
    const from = pongOf(msg.subject);
    const entry = from && waiting.get(from.nonce);
    // Late (its ping timed out) or not a pong of ours: nothing to settle.
    if (!from || !entry || entry.worker !== from.worker) return onUntrusted?.('pong answers no ping');
    if (msg.headers?.code === 503) return settle(from.nonce, { ok: false, reason: 'no responders' });
    if (msg.data.length > MAX_PONG_BYTES) return settle(from.nonce, { ok: false, reason: `pong of ${msg.data.length} bytes` });
    const decoded = decode(pong, msg.data);
    if (!decoded.ok) {
      log.warn({ worker: from.worker, error: decoded.error, payload: showValue(msg.string(), 200) }, `bad pong counted as a miss: ${decoded.error}`);
      return settle(from.nonce, { ok: false, reason: `bad pong: ${decoded.error}` });
    }
    if (decoded.value.worker !== from.worker) {
      log.warn({ worker: from.worker, answeredAs: decoded.value.worker }, 'pong names another worker; counted as a miss');
      return settle(from.nonce, { ok: false, reason: `pong from ${decoded.value.worker}` });
    }
    settle(from.nonce, { ok: true, pong: decoded.value });
  };
  const subscription = nc.subscribe(wildcard.pongs(), { callback: onPong });
  // The subscription must be at the server before the first ping, or a 503 could not reach it.
  await nc.flush();
  return {
    ping: (worker, timeoutMs) =>
      new Promise<PingOutcome>((resolve) => {
        const nonce = randomBytes(12).toString('base64url');
        // A timer that fires while the answer waits unread in the socket (the loop was busy) must not
        // count it missing: one poll phase (setImmediate) lets queued input in first.
        const timer = setTimeout(() => setImmediate(() => settle(nonce, { ok: false, reason: 'timeout' })), timeoutMs);
        waiting.set(nonce, { worker, resolve, timer });
        try {
          nc.publish(subject.ping(worker), '', { reply: subject.pong(worker, nonce) });
        } catch (err) {
          settle(nonce, { ok: false, reason: describeRequestError(err) });
        }
      }),
    stop: () => {
      subscription.unsubscribe();
      for (const nonce of [...waiting.keys()]) settle(nonce, { ok: false, reason: 'stopped' });
    },
  };
}

/** "no responders" (nobody subscribed: the process is gone), "timeout", or the error's message. */
export function describeRequestError(err: unknown): string {
  if (err instanceof errors.NoRespondersError) return 'no responders';
  if (err instanceof errors.RequestError && err.isNoResponders()) return 'no responders';
  if (err instanceof errors.TimeoutError || (err as Error)?.cause instanceof errors.TimeoutError) return 'timeout';
  return (err as Error)?.message ?? String(err);
}
