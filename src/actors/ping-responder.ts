import { errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { decode, pong, type Pong } from '../bus/messages.ts';
import { subject } from '../bus/subjects.ts';
import type { Logger } from '../log.ts';
import { showValue } from '../validation.ts';

/**
 * Both ends of the viewserver's heartbeat. A worker answers bearmon.ping.<id> with a pong
 * that says since when this process runs (the viewserver prefers the candidate up
 * longest) and whether it could act as controller at all; the viewserver's probe turns
 * one request into an answer or a miss.
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
    if (!msg.respond(payload)) log.debug({ subject: pingSubject }, 'ping without a reply subject ignored');
  };
  const subscription = deps.nc.subscribe(pingSubject, { callback: onPing });
  return { stop: () => subscription.unsubscribe() };
}

export type PingOutcome = { ok: true; pong: Pong } | { ok: false; reason: string };

/** One heartbeat of one worker: its valid pong, or why it counts as a miss. Never throws. */
export async function pingWorker(nc: NatsConnection, worker: string, timeoutMs: number, log: Logger): Promise<PingOutcome> {
  let msg: Msg;
  try {
    msg = await nc.request(subject.ping(worker), '', { timeout: timeoutMs });
  } catch (err) {
    return { ok: false, reason: describeRequestError(err) };
  }
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
}

/** "no responders" (nobody subscribed: the process is gone), "timeout", or the error's message. */
export function describeRequestError(err: unknown): string {
  if (err instanceof errors.NoRespondersError) return 'no responders';
  if (err instanceof errors.RequestError && err.isNoResponders()) return 'no responders';
  if (err instanceof errors.TimeoutError || (err as Error)?.cause instanceof errors.TimeoutError) return 'timeout';
  return (err as Error)?.message ?? String(err);
}
