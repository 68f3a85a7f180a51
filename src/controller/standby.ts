import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
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
  const state = emptyLogState(options.confirmations);
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let wake: (() => void) | undefined;

  const follow = async () => {
    const js = jetstream(options.nc);
    while (!stopped) {
      try {
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
        if (!/stream not found/i.test(message)) log.warn({ err: message, seq: state.seq }, 'standby could not follow the result log; retrying');
      }
      if (!stopped) await new Promise<void>((resolve) => ((wake = resolve), setTimeout(resolve, options.retryMs ?? 2000)));
    }
  };
  const running = follow();

  const halt = async () => {
    stopped = true;
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

