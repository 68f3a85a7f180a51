import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';
import { applyRecord, emptyLogState, type LogState } from './log-state.ts';

export interface Standby {
  /** Stops following and returns what has been folded; a controller continues from it. */
  handOver(): Promise<LogState>;
  /** Position so far (tests, logs). */
  progress(): { seq: number; records: number };
  stop(): Promise<void>;
}

export interface StandbyOptions {
  nc: NatsConnection;
  stream: string;
  confirmations: number;
  log: Logger;
  /** Wait between attempts while the stream does not exist yet (no controller has run). */
  retryMs?: number;
  /** How often to check that the stream followed is still the same one (default 10 s). */
  watchMs?: number;
}

/**
 * A warm standby for the controller role: while another worker controls, it folds the
 * result log as it grows (an ordered consumer, from the start), so that when a view names
 * this worker, taking over means reading only the last few records instead of the whole
 * log — fail-over time stays flat as the log grows. It costs the fold's memory (~0.25 KB
 * per check) and a few microseconds of CPU per logged event.
 */
export function startStandby(options: StandbyOptions): Standby {
  const log = options.log.child({ role: 'standby' });
  let state = emptyLogState(options.confirmations);
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let streamCreated: string | undefined;
  let wake: (() => void) | undefined;

  const follow = async () => {
    const js = jetstream(options.nc);
    const jsm = await jetstreamManager(options.nc);
    while (!stopped) {
      try {
        const info = await jsm.streams.info(options.stream);
        // A stream made anew (deleted and recreated) numbers from 1 again: start over.
        if (streamCreated !== undefined && info.created !== streamCreated) state = emptyLogState(options.confirmations);
        streamCreated = info.created;
        const consumer = await js.consumers.get(options.stream, state.seq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: state.seq + 1 } : { deliver_policy: DeliverPolicy.All });
        messages = await consumer.consume();
        if (stopped) break;
        for await (const m of messages) {
          // A hand-over may close the iterator with messages still buffered: they are the new controller's.
          if (stopped) break;
          applyRecord(state, m.string(), m.seq);
        }
      } catch (err) {
        if (stopped) break;
        const message = (err as Error).message;
        // No stream (none yet, or deleted): whatever was folded belongs to a log that is gone.
        if (/stream not found/i.test(message)) {
          state = emptyLogState(options.confirmations);
          streamCreated = undefined;
        } else log.warn({ err: message, seq: state.seq }, 'standby could not follow the result log; retrying');
      }
      if (!stopped) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, options.retryMs ?? 2000)));
    }
  };
  // The ordered consumer waits quietly on a deleted stream: look now and then whether the
  // stream is still the one being followed, and restart when it is not.
  const watchdog = setInterval(() => {
    void jetstreamManager(options.nc)
      .then((jsm) => jsm.streams.info(options.stream))
      .then(
        (info) => (info.created !== streamCreated ? messages?.close() : undefined),
        () => messages?.close(),
      )
      .catch(() => {});
  }, options.watchMs ?? 10_000);
  const running = follow();

  const halt = async () => {
    stopped = true;
    clearInterval(watchdog);
    wake?.();
    await messages?.close().catch(() => {});
    await running;
  };

  return {
    handOver: async () => {
      await halt();
      log.info({ seq: state.seq, records: state.records, checks: state.fold.checkIds().length }, 'standby hands over its fold');
      return state;
    },
    progress: () => ({ seq: state.seq, records: state.records }),
    stop: halt,
  };
}

