import type { Logger } from '../log.ts';
import { errorMessage, isConnectionError, isPermanentError } from './errors.ts';
import type { Store, Transition, TransitionOutcome } from './store.ts';

export interface RetryPolicy {
  /** First wait after a failure; doubles with each further failure. */
  initialMs: number;
  maxMs: number;
}

export interface TransitionWriterOptions {
  store: Pick<Store, 'recordTransition'>;
  log: Logger;
  retry: RetryPolicy;
  /** Tries for an SQL error before the transition is dropped; connection errors never count. */
  maxAttempts?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** Called after each transition is in MySQL (written now or before): its notifications may be due. */
  onRecorded?: (transition: Transition, outcome: TransitionOutcome) => void;
}

export interface TransitionWriter {
  /** Queues a transition; one already queued with the same key is not queued twice. */
  enqueue(transition: Transition): void;
  /** Transitions not yet recorded, oldest first. */
  pending(): Transition[];
  /** Resolves when nothing is pending; rejects if the writer is stopped first. */
  drain(): Promise<void>;
  /** Stops after the write in flight; what is still pending stays listed by pending(). */
  stop(): Promise<void>;
}

interface Entry {
  transition: Transition;
  attempts: number;
  notBefore: number;
}

/**
 * Records transitions in order per check, in the background, so the controller never waits
 * on MySQL. While MySQL is unreachable every transition is kept and retried with capped
 * exponential backoff; keys make a retried write harmless. The queue lives in this process:
 * it survives outages of MySQL, not a restart of the controller.
 */
export function createTransitionWriter(options: TransitionWriterOptions): TransitionWriter {
  const { store, log, retry } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const now = options.now ?? Date.now;
  const queue: Entry[] = [];
  const drainers: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const outage = { since: null as number | null, failures: 0 };
  const pause = createPause();
  let running: Promise<void> | null = null;
  let stopped = false;

  const backoff = (failures: number) => Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1));

  function enqueue(transition: Transition): void {
    if (stopped) throw new Error('transition writer is stopped');
    if (queue.some((e) => e.transition.key === transition.key)) return;
    // The row's time is the controller's clock at the latest (SPEC §8): a time from a worker
    // running ahead — or lying — cannot date check_events into the future. The key stays as derived.
    const at = Math.min(transition.at.getTime(), now());
    queue.push({ transition: { ...transition, at: new Date(at) }, attempts: 0, notBefore: 0 });
    pause.wakeIfInterruptible();
    ensureRunning();
  }

  function ensureRunning(): void {
    if (running || stopped) return;
    running = loop().finally(() => {
      running = null;
      if (queue.length > 0) ensureRunning();
    });
  }

  async function loop(): Promise<void> {
    while (!stopped && queue.length > 0) {
      const entry = nextReady(queue, now());
      if (entry) await attempt(entry);
      else await pause.wait(msUntilReady(queue, now()), true);
    }
    settleDrainers();
  }

  async function attempt(entry: Entry): Promise<void> {
    const { checkId, to, key } = entry.transition;
    try {
      const outcome = await store.recordTransition(entry.transition);
      endOutage();
      remove(entry);
      log.info({ checkId, to, key, outcome }, 'transition recorded');
      options.onRecorded?.(entry.transition, outcome);
    } catch (err) {
      if (isConnectionError(err)) {
        continueOutage(err);
        // Not interruptible by enqueue: a new transition must not shorten the backoff.
        await pause.wait(backoff(outage.failures), false);
        return;
      }
      endOutage();
      entry.attempts += 1;
      const fields = { checkId, to, key, attempts: entry.attempts, error: errorMessage(err) };
      if (isPermanentError(err) || entry.attempts >= maxAttempts) {
        remove(entry);
        log.error(fields, 'transition dropped: it could not be recorded');
        return;
      }
      entry.notBefore = now() + backoff(entry.attempts);
      log.warn(fields, 'transition not recorded; retrying later');
    }
  }

  function continueOutage(err: unknown): void {
    outage.failures += 1;
    if (outage.since !== null) {
      log.debug({ pending: queue.length, failedAttempts: outage.failures, error: errorMessage(err) }, 'MySQL still unreachable');
      return;
    }
    outage.since = now();
    log.error({ pending: queue.length, error: errorMessage(err) }, 'MySQL unreachable: keeping transitions and retrying');
  }

  function endOutage(): void {
    if (outage.since === null) return;
    log.info({ downMs: now() - outage.since, failedAttempts: outage.failures, pending: queue.length }, 'MySQL reachable again');
    outage.since = null;
    outage.failures = 0;
  }

  function remove(entry: Entry): void {
    const index = queue.indexOf(entry);
    if (index >= 0) queue.splice(index, 1);
  }

  function settleDrainers(): void {
    if (queue.length > 0 && !stopped) return;
    const waiting = drainers.splice(0);
    for (const drainer of waiting) {
      if (queue.length === 0) drainer.resolve();
      else drainer.reject(new Error(`transition writer stopped with ${queue.length} transitions pending`));
    }
  }

  return {
    enqueue,
    pending: () => queue.map((e) => ({ ...e.transition })),
    drain: () =>
      new Promise<void>((resolve, reject) => {
        drainers.push({ resolve, reject });
        if (!running) settleDrainers();
      }),
    stop: async () => {
      stopped = true;
      pause.wakeAlways();
      await running;
      settleDrainers();
    },
  };
}

/** The oldest entry whose check has nothing older queued and whose retry time has come. */
function nextReady(queue: readonly Entry[], at: number): Entry | undefined {
  const seen = new Set<number>();
  for (const entry of queue) {
    if (seen.has(entry.transition.checkId)) continue;
    seen.add(entry.transition.checkId);
    if (entry.notBefore <= at) return entry;
  }
  return undefined;
}

function msUntilReady(queue: readonly Entry[], at: number): number {
  const seen = new Set<number>();
  let soonest = Infinity;
  for (const entry of queue) {
    if (seen.has(entry.transition.checkId)) continue;
    seen.add(entry.transition.checkId);
    soonest = Math.min(soonest, entry.notBefore - at);
  }
  return Math.max(0, soonest);
}

/** A timer the writer can cut short: on stop always, on enqueue only when waiting for a retry time. */
function createPause() {
  let current: { timer: NodeJS.Timeout; interruptible: boolean; resolve: () => void } | null = null;
  const end = () => {
    if (!current) return;
    clearTimeout(current.timer);
    const { resolve } = current;
    current = null;
    resolve();
  };
  return {
    wait: (ms: number, interruptible: boolean) =>
      new Promise<void>((resolve) => {
        current = { timer: setTimeout(end, ms), interruptible, resolve };
      }),
    wakeIfInterruptible: () => {
      if (current?.interruptible) end();
    },
    wakeAlways: end,
  };
}
