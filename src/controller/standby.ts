import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { StreamReader } from '../bus/stream-reader.ts';
import type { TrustOptions } from '../bus/trust.ts';
import type { Logger } from '../log.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import { applyRecord, emptyLogState, reportSkips, type FoldPolicy, type LogState } from './log-state.ts';
import type { SnapshotStore } from './snapshot.ts';

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
  /** Where snapshots are kept: a cold standby starts from the stored one. */
  snapshots?: SnapshotStore;
  /** Also store a snapshot this often when the log has grown (0 or absent: never). */
  saveEveryMs?: number;
  /** Who may say what in the log (no viewserver: viewless). */
  trust: TrustOptions;
  metrics?: Metrics;
  /** Faulty-probe scoring as the controller does it, so a hand-over keeps each worker's score and quarantine. */
  policy?: FoldPolicy;
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
  const fresh = () => emptyLogState(options.confirmations, options.trust, options.policy);
  let state = fresh();
  let stopped = false;
  let messages: StreamReader | undefined;
  const onSkip = reportSkips(log, (reason) => (options.metrics ?? noMetrics).untrusted('log', reason));
  let streamCreated: string | undefined;
  let savedSeq = 0;
  let wake: (() => void) | undefined;

  const follow = async () => {
    while (!stopped) {
      try {
        // Inside the try: JetStream not (yet) available must mean "retry", never a crash.
        const jsm = await jetstreamManager(options.nc);
        const info = await jsm.streams.info(options.stream);
        // A stream made anew (deleted and recreated) numbers from 1 again: start over.
        if (streamCreated !== undefined && info.created !== streamCreated) {
          state = fresh();
          savedSeq = 0;
        }
        streamCreated = info.created;
        state.created = info.created;
        if (state.seq === 0 && options.snapshots) await startFromSnapshot(info.created, info.state.last_seq);
        messages = new StreamReader(options.nc, options.stream, state.seq > 0 ? { seq: state.seq + 1 } : {});
        if (stopped) break;
        for await (const m of messages.records()) {
          // A hand-over may close the iterator with messages still buffered: they are the new controller's.
          if (stopped) break;
          applyRecord(state, { subject: m.subject, text: m.string(), seq: m.seq, time: Math.floor(m.info.timestampNanos / 1e6) }, onSkip);
        }
      } catch (err) {
        if (stopped) break;
        const message = (err as Error).message;
        // No stream (none yet, or deleted): whatever was folded belongs to a log that is gone.
        if (/stream not found/i.test(message)) {
          state = fresh();
          streamCreated = undefined;
          savedSeq = 0;
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
  /** A stored snapshot of this very stream spares folding what it already covers. */
  const startFromSnapshot = async (created: string, lastSeq: number) => {
    try {
      const { state: stored, reason } = await options.snapshots!.load({ name: options.stream, created, confirmations: options.confirmations, trust: options.trust, policy: options.policy });
      if (stored && stored.seq <= lastSeq && !stopped) {
        state = stored;
        log.info({ seq: stored.seq, checks: stored.fold.checkIds().length }, 'standby starts from a stored snapshot');
      } else log.info({ reason }, 'standby folds the log from its start');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not read the stored snapshot; folding the log from its start');
    }
  };
  const save = async () => {
    if (!options.snapshots || streamCreated === undefined || state.seq <= savedSeq) return;
    const stream = { name: options.stream, created: streamCreated };
    try {
      // Several processes may keep snapshots: only a newer one replaces what is stored.
      if (((await options.snapshots.storedSeq(stream)) ?? 0) >= state.seq) return;
      const { bytes, seq } = await options.snapshots.save(stream, state);
      savedSeq = seq;
      log.info({ seq, bytes, checks: state.fold.checkIds().length }, 'stored a snapshot of the log state');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not store a snapshot of the log state');
    }
  };
  const saver = options.saveEveryMs ? setInterval(() => void save(), options.saveEveryMs) : undefined;
  const running = follow().catch((err: unknown) => log.error({ err: (err as Error)?.message ?? String(err) }, 'standby stopped following the result log'));

  const halt = async () => {
    stopped = true;
    clearInterval(watchdog);
    clearInterval(saver);
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

