/**
 * Runs at most `concurrency` tasks at a time; the rest wait in FIFO order. The waiting
 * line is bounded: a flood of requests is refused (offer returns false) rather than
 * held in memory, because a worker that falls that far behind cannot catch up anyway
 * and the controller reassigns runs that get no result.
 */
export interface WorkQueueOptions<T> {
  concurrency: number;
  maxQueued: number;
  /** Does the work for one item. Expected never to reject; a rejection goes to onError. */
  run: (item: T) => Promise<void>;
  onError: (item: T, err: unknown) => void;
}

export interface WorkQueue<T> {
  /** Starts or queues the item; false when the waiting line is full (the item is not kept). */
  offer(item: T): boolean;
  readonly running: number;
  readonly queued: number;
  /** Removes and returns every item still waiting; running ones go on. */
  clear(): T[];
  /** Resolves once nothing is running (immediately when idle). */
  idle(): Promise<void>;
}

export function createWorkQueue<T>(options: WorkQueueOptions<T>): WorkQueue<T> {
  let waiting: T[] = [];
  let running = 0;
  let idleWaiters: (() => void)[] = [];

  const settle = () => {
    running--;
    const next = waiting.shift();
    if (next !== undefined) return start(next);
    if (running === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  const start = (item: T) => {
    running++;
    let work: Promise<void>;
    try {
      work = options.run(item);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.catch((err: unknown) => options.onError(item, err)).finally(settle);
  };

  return {
    offer(item) {
      if (running < options.concurrency) {
        start(item);
        return true;
      }
      if (waiting.length >= options.maxQueued) return false;
      waiting.push(item);
      return true;
    },
    get running() {
      return running;
    },
    get queued() {
      return waiting.length;
    },
    clear() {
      const dropped = waiting;
      waiting = [];
      return dropped;
    },
    idle() {
      if (running === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
