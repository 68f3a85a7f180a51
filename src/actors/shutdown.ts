import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';

/**
 * Bounded shutdown. SIGTERM ends every role (worker, worker --controller, viewserver)
 * within SHUTDOWN_BOUND_MS even when NATS or MySQL are gone: the stop steps share a
 * deadline, a step that does not finish in its share is logged by name and left behind,
 * and in the CLI a last-resort timer exits the process should anything still hold it.
 */
export const SHUTDOWN_BOUND_MS = 10_000;
/** What the orderly stop steps may take together. */
export const STOP_DEADLINE_MS = 8_500;
/** The hard exit fires this long after the signal: the bound minus a margin for exiting itself. */
export const HARD_EXIT_MS = 9_500;
/** A drain flushes what is already handed to NATS; with the server gone it would wait forever. */
export const DRAIN_TIMEOUT_MS = 2_000;
const CLOSE_TIMEOUT_MS = 1_000;
/**
 * Less time than this left counts as none. Timers fire up to a millisecond early, so a
 * step that used up its share can leave the next a sliver that only times out.
 */
const MIN_STEP_MS = 10;
/** What drainThenClose takes at most: reserve it for the step that closes the connection. */
export const CLOSE_BUS_MS = DRAIN_TIMEOUT_MS + CLOSE_TIMEOUT_MS;

export interface StopStep {
  /** Named in the log when it fails or does not finish in time. */
  name: string;
  run(): unknown;
  /** At most this long (and never past the overall deadline). */
  timeoutMs?: number;
  /** Time kept for this step: the steps before it must be done this long before the deadline. */
  reserveMs?: number;
}

export interface StopOptions {
  log: Logger;
  /** All steps together (default STOP_DEADLINE_MS). */
  deadlineMs?: number;
}

type Settled = { done: true } | { done: false; error: unknown } | { done: false; timedOut: true };

/** `work` settled, or given up on after `ms` (the work itself goes on; its failure is swallowed). */
export async function settleWithin(work: () => unknown, ms: number): Promise<Settled> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((resolve) => {
    timer = setTimeout(() => resolve({ done: false, timedOut: true }), Math.max(0, ms));
  });
  const settled = Promise.resolve()
    .then(work)
    .then(
      (): Settled => ({ done: true }),
      (error: unknown): Settled => ({ done: false, error }),
    );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs the stop steps in order within one deadline. A step that throws or outlives its
 * share is logged with its name and the next one starts; once the deadline has passed,
 * the remaining steps are still started (closing a connection must not be skipped) but
 * not waited for. Resolves with the names of the steps that did not finish.
 */
export async function stopWithin(steps: readonly StopStep[], options: StopOptions): Promise<{ unfinished: string[] }> {
  const { log } = options;
  const deadline = Date.now() + (options.deadlineMs ?? STOP_DEADLINE_MS);
  const unfinished: string[] = [];
  for (const [index, step] of steps.entries()) {
    const reservedLater = steps.slice(index + 1).reduce((sum, later) => sum + (later.reserveMs ?? 0), 0);
    const left = deadline - reservedLater - Date.now();
    const ms = Math.min(left, step.timeoutMs ?? Infinity);
    if (left < MIN_STEP_MS) {
      void settleWithin(() => step.run(), 0);
      unfinished.push(step.name);
      log.warn({ step: step.name }, `shutdown: no time left for "${step.name}"; started it without waiting`);
      continue;
    }
    const started = Date.now();
    const result = await settleWithin(() => step.run(), ms);
    if (result.done) continue;
    if ('timedOut' in result) {
      unfinished.push(step.name);
      log.warn({ step: step.name, waitedMs: Date.now() - started }, `shutdown: "${step.name}" did not finish in time; going on without it`);
    } else {
      log.warn({ step: step.name, error: errorMessage(result.error) }, `shutdown: "${step.name}" failed; going on`);
    }
  }
  return { unfinished };
}

/**
 * Drain (flush what is buffered, let subscriptions finish) for at most `drainMs`, then
 * close. With the server gone a drain fails or never ends, and the client would otherwise
 * keep reconnecting — keeping the process alive — forever.
 */
export async function drainThenClose(nc: NatsConnection, log: Logger, drainMs = DRAIN_TIMEOUT_MS): Promise<void> {
  if (nc.isClosed()) return;
  const drained = nc.isDraining() ? ({ done: true } as const) : await settleWithin(() => nc.drain(), drainMs);
  if (!drained.done) {
    const why = 'timedOut' in drained ? `no answer within ${drainMs} ms` : errorMessage(drained.error);
    log.warn({ reason: why }, 'NATS connection not drained; closing it (messages still buffered are lost)');
  }
  if (nc.isClosed()) return;
  const closed = await settleWithin(() => nc.close(), CLOSE_TIMEOUT_MS);
  if (!closed.done) log.warn('NATS connection did not close cleanly');
}

/**
 * The CLI's last resort: once `signal` aborts, exit with status 1 after `ms` if the
 * process is still running — whatever holds it (a socket, a timer, a promise that never
 * settles). The timer is unref'd, so it never keeps a process alive that would end anyway.
 * Not for library or test use: it ends the whole process.
 */
export function exitIfShutdownHangs(signal: AbortSignal, log: Logger, ms = HARD_EXIT_MS): void {
  const arm = () => {
    const timer = setTimeout(() => {
      log.error({ afterMs: ms }, 'shutdown did not finish in time; exiting anyway');
      process.exit(1);
    }, ms);
    timer.unref();
  };
  if (signal.aborted) arm();
  else signal.addEventListener('abort', arm, { once: true });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
