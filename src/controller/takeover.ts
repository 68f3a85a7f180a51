import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { lastLoggedView, readLog } from '../bus/result-log.ts';
import { subject } from '../bus/subjects.ts';
import type { TrustOptions } from '../bus/trust.ts';
import type { Logger } from '../log.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import { applyRecord, emptyLogState, reportSkips, type FoldPolicy, type LogState } from './log-state.ts';
import type { SnapshotStore } from './snapshot.ts';

export interface TakeoverSources {
  nc: NatsConnection;
  stream: string;
  confirmations: number;
  log: Logger;
  /** A standby that has been folding the log: its state is taken over. */
  standby?: { handOver(): Promise<LogState> };
  /** Without a standby (or with a cold one), the stored snapshot is the starting point. */
  snapshots?: SnapshotStore;
  /** Who may say what in the log (no viewserver: viewless). */
  trust: TrustOptions;
  metrics?: Metrics;
  policy?: FoldPolicy;
}

export interface Takeover {
  state: LogState;
  /** Where the standby or snapshot left off: what was not read again. */
  startedAt: { seq: number; records: number };
}

/**
 * The log state a new controller continues from: the standby's fold if there is one,
 * else the stored snapshot, else nothing; then every record after that position, to the
 * end of the stream. A log that cannot be read leaves the state where it got to (the
 * database state fills in): a controller must start even when the stream is in trouble.
 */
export async function takeOverLogState(sources: TakeoverSources): Promise<Takeover> {
  const { log } = sources;
  let state = emptyLogState(sources.confirmations, sources.trust, sources.policy);
  const onSkip = reportSkips(log, (reason) => (sources.metrics ?? noMetrics).untrusted('log', reason));
  try {
    if (sources.standby) state = await sourcedFromThisStream(sources, await sources.standby.handOver());
  } catch (err) {
    log.error({ err: (err as Error).message }, 'the standby could not hand over; reading the whole log');
  }
  if (state.seq === 0 && sources.snapshots) state = await fromSnapshot(sources, sources.snapshots, state);
  const startedAt = { seq: state.seq, records: state.records };
  try {
    for await (const record of readLog(sources.nc, { stream: sources.stream, fromSeq: state.seq + 1 })) applyRecord(state, record, onSkip);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not read the result log; starting from the database state');
  }
  return { state, startedAt };
}

/** The handed-over state, unless it was folded from an earlier stream of that name (then nothing). */
async function sourcedFromThisStream(sources: TakeoverSources, state: LogState): Promise<LogState> {
  const created = (await (await jetstreamManager(sources.nc)).streams.info(sources.stream)).created;
  if (state.created === undefined || state.created === created) return state;
  sources.log.warn({ seq: state.seq }, 'the standby followed an earlier stream of that name; reading the whole log');
  return emptyLogState(sources.confirmations, sources.trust, sources.policy);
}

/** The stored snapshot of this stream, if there is a usable one; otherwise `fallback`. */
async function fromSnapshot(sources: TakeoverSources, snapshots: SnapshotStore, fallback: LogState): Promise<LogState> {
  try {
    const info = await (await jetstreamManager(sources.nc)).streams.info(sources.stream);
    const { state, reason } = await snapshots.load({ name: sources.stream, created: info.created, confirmations: sources.confirmations, trust: sources.trust, policy: sources.policy });
    if (state && state.seq <= info.state.last_seq) {
      sources.log.info({ seq: state.seq }, 'rebuilding from a stored snapshot');
      return state;
    }
    sources.log.info({ reason }, 'no usable snapshot: folding the whole log');
  } catch (err) {
    sources.log.warn({ err: (err as Error).message }, 'could not read the stored snapshot: folding the whole log');
  }
  return fallback;
}

/** The stream's last sequence now (0 when empty). */
export async function lastSequence(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.last_seq;
}

/**
 * Waits until the result log holds the record of view `view` (or a newer one), asking the
 * viewserver to say the view again (bearmon.view.get) while it does not: a stream made after
 * the view was published missed it, and without it no reader would take this controller's
 * lines. Gives up after `timeoutMs` with an error line (the controller still runs).
 */
export async function awaitViewRecord(nc: NatsConnection, stream: string, view: number, log: Logger, timeoutMs = 5000): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = await lastLoggedView(jsm, stream);
    if (stored && stored.view >= view) return true;
    if (Date.now() >= deadline) {
      log.error({ view, stored: stored?.view ?? null }, 'the result log does not hold the view that named this controller: standbys and successors will skip its lines');
      return false;
    }
    nc.publish(subject.view('get'));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
