import { randomBytes } from 'node:crypto';
import { errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { decode, pong, type Pong } from '../bus/messages.ts';
import { pongOf, subject } from '../bus/subjects.ts';
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

/** A pong is four short fields. */
const MAX_PONG_BYTES = 1024;

/**
 * The viewserver's end. Each ping listens on its own exact pong subject
 * (bearmon.pong.<worker>.<nonce>, one message): a worker flooding the rest of
 * bearmon.pong.<itself>.* reaches no one, and nothing else arrives on the liveness connection.
 */
export async function createPinger(nc: NatsConnection, log: Logger, onUntrusted?: (reason: string) => void): Promise<Pinger> {
  const open = new Set<{ settle(outcome: PingOutcome): void }>();
  const judge = (worker: string, msg: Msg): PingOutcome => {
    if (msg.headers?.code === 503) return { ok: false, reason: 'no responders' };
    if (msg.data.length > MAX_PONG_BYTES) return { ok: false, reason: `pong of ${msg.data.length} bytes` };
    const decoded = decode(pong, msg.data);
    if (!decoded.ok) {
      log.warn({ worker, error: decoded.error, payload: showValue(msg.string(), 200) }, `bad pong counted as a miss: ${decoded.error}`);
      return { ok: false, reason: `bad pong: ${decoded.error}` };
    }
    if (decoded.value.worker !== worker) {
      log.warn({ worker, answeredAs: decoded.value.worker }, 'pong names another worker; counted as a miss');
      return { ok: false, reason: `pong from ${decoded.value.worker}` };
    }
    return { ok: true, pong: decoded.value };
  };
  return {
    ping: (worker, timeoutMs) =>
      new Promise<PingOutcome>((resolve) => {
        const nonce = randomBytes(12).toString('base64url');
        const reply = subject.pong(worker, nonce);
        let timer: NodeJS.Timeout | undefined;
        const entry = {
          settle: (outcome: PingOutcome) => {
            if (!open.delete(entry)) return;
            clearTimeout(timer);
            sub.unsubscribe();
            resolve(outcome);
          },
        };
        open.add(entry);
        const sub = nc.subscribe(reply, {
          max: 1,
          callback: (err, msg) => {
            if (err) return entry.settle({ ok: false, reason: err.message });
            // A stored message delivered here by a consumer keeps its own subject.
            if (msg.subject !== reply) return onUntrusted?.('pong on another subject');
            entry.settle(judge(worker, msg));
          },
        });
        // A timer that fires while the answer waits unread in the socket (the loop was busy) must not
        // count it missing: one poll phase (setImmediate) lets queued input in first.
        timer = setTimeout(() => setImmediate(() => entry.settle({ ok: false, reason: 'timeout' })), timeoutMs);
        try {
          // The subscription goes to the server before the ping on the same connection, so a 503 can reach it.
          nc.publish(subject.ping(worker), '', { reply });
        } catch (err) {
          entry.settle({ ok: false, reason: describeRequestError(err) });
        }
      }),
    stop: () => {
      for (const entry of [...open]) entry.settle({ ok: false, reason: 'stopped' });
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

/** How the liveness thread reaches NATS: the same servers and credentials as the process. */
export interface LivenessConnection {
  servers: string[];
  user?: string;
  pass?: string;
  inboxPrefix?: string;
}

/** Main-loop progress is written this often; a pong reports how long ago it last was. */
const TICK_MS = 100;

/**
 * Answers pings from a worker thread with a NATS connection of its own
 * (src/actors/liveness-thread.mjs): a busy main event loop is reported (loopLagMs), not
 * mistaken for a dead process. Falls back to answering on the main loop if the thread
 * cannot start.
 */
export async function startLivenessThread(deps: PingResponderDeps & { connection: LivenessConnection }): Promise<{ stop(): Promise<void> }> {
  const { Worker } = await import('node:worker_threads');
  // [0]: the main loop's last tick; [1]: since when the process's own connection is down (0: up).
  const progress = new SharedArrayBuffer(16);
  const shared = new Float64Array(progress);
  shared[0] = Date.now();
  const ticker = setInterval(() => void (shared[0] = Date.now()), TICK_MS);
  const statuses = deps.nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (status.type === 'disconnect') shared[1] ||= Date.now();
      else if (status.type === 'reconnect') shared[1] = 0;
    }
  })().catch(() => {});
  const log = deps.log.child({ worker: deps.id });
  const thread = new Worker(new URL('./liveness-thread.mjs', import.meta.url), {
    workerData: { connection: deps.connection, id: deps.id, startedAt: deps.startedAt, canControl: deps.canControl, progress },
  });
  const ready = await new Promise<boolean>((resolve) => {
    thread.once('message', () => resolve(true));
    thread.once('error', (err) => (log.error({ err: err.message }, 'liveness thread failed; answering pings on the main loop'), resolve(false)));
    thread.once('exit', () => resolve(false));
  });
  let fallback: PingResponder | undefined;
  if (!ready) {
    clearInterval(ticker);
    (statuses as Partial<{ stop(): void }>).stop?.();
    await thread.terminate().catch(() => 0);
    fallback = respondToPings(deps);
    return { stop: async () => fallback!.stop() };
  }
  let stopping = false;
  // A thread that dies later must not leave the process unanswering (and so replaced while healthy).
  thread.once('exit', (code) => {
    if (stopping) return;
    log.error({ code }, 'liveness thread ended; answering pings on the main loop');
    fallback = respondToPings(deps);
  });
  return {
    stop: async () => {
      stopping = true;
      fallback?.stop();
      (statuses as Partial<{ stop(): void }>).stop?.();
      clearInterval(ticker);
      const stopped = new Promise((resolve) => thread.once('message', resolve));
      thread.postMessage({ stop: true });
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 1000))]);
      await thread.terminate().catch(() => 0);
    },
  };
}
