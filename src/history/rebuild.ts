/**
 * `bearmon history rebuild`: the rollups again, from the result log (the source of truth).
 * The same results count as in the live controller: a result answering an outstanding run
 * of the worker that sent it (assign … result, not expired), read through the trust rules
 * of every other reader of the log (src/bus/trust.ts), filed by the same sampleTime. It
 * deletes the range, then adds the log's results into it: running it twice gives the same
 * rows.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { lastLoggedView, readLog } from '../bus/result-log.ts';
import { StreamTrust } from '../bus/trust.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_RESULT_WINDOW_MS } from '../replay/fold.ts';
import { addSample, bucketStart, emptyRollup, pruneCutoff, RESOLUTION_NAMES, RESOLUTIONS, rollupKey, sampleTime, type HistorySample, type Resolution, type Rollup } from './buckets.ts';
import { deleteBuckets, upsertRollups, type HistoryCluster } from './store.ts';

/**
 * A rebuild leaves the newest buckets to the live writer: it files results up to a minute
 * late (sampleTime) and writes every few seconds, so buckets ending more than this long ago
 * are its no more, and a rebuild running beside a controller neither loses nor doubles them.
 */
export const SETTLE_MS = 2 * 60_000;

/** Runs handed out and never answered nor expired (a controller that died) are forgotten after this. */
const FORGET_RUNS_AFTER_MS = 60 * 60_000;

/**
 * Turns stored records of the result log into the samples the live controller would have
 * recorded: results that answer an outstanding run of their worker. Pure; records in
 * stream order.
 */
export class LogSampler {
  private readonly outstanding = new Map<string, { worker: string; checkId: number; at: number }>();
  private seen = 0;

  constructor(private readonly trust: StreamTrust) {}

  apply(record: { subject: string; text: string; seq: number; time: number }): HistorySample | undefined {
    const admitted = this.trust.admit(record.subject, record.text, record.seq);
    if (admitted.kind !== 'line' || !admitted.parsed.line) return undefined;
    const line = admitted.parsed.line;
    if ((++this.seen & 0x3fff) === 0) this.forgetOld(record.time);
    switch (line.type) {
      case 'assign':
        this.outstanding.set(line.assignment, { worker: line.worker, checkId: line.checkId, at: line.at });
        return undefined;
      case 'expire':
        if (this.outstanding.get(line.assignment)?.worker === line.worker) this.outstanding.delete(line.assignment);
        return undefined;
      case 'result': {
        if (line.assignment === undefined) return undefined;
        const run = this.outstanding.get(line.assignment);
        if (!run || run.worker !== line.worker || run.checkId !== line.checkId) return undefined;
        this.outstanding.delete(line.assignment);
        return { checkId: line.checkId, worker: line.worker, status: line.status, at: line.at, receivedAt: record.time, durationMs: durationOf(record.text) };
      }
      default:
        return undefined;
    }
  }

  private forgetOld(now: number): void {
    for (const [assignment, run] of this.outstanding) if (now - run.at > FORGET_RUNS_AFTER_MS) this.outstanding.delete(assignment);
  }
}

/** The run time a result carries (the log's line format leaves it out). */
function durationOf(text: string): number | undefined {
  try {
    const value = (JSON.parse(text) as { durationMs?: unknown }).durationMs;
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface RebuildRange {
  /** Buckets rebuilt per resolution: [from, to). */
  fine: { from: number; to: number } | null;
  hourly: { from: number; to: number } | null;
  /** Set when --since asked for more than the log holds. */
  clippedToLog?: number;
}

/**
 * Which buckets a rebuild replaces. From `since` (or the start of the log) to buckets that
 * ended SETTLE_MS ago, whole buckets only. Never before what the log can say: a log that
 * lost its oldest records (retention) starts a run window later, since runs handed out
 * before its first record are not in it; a log that never lost one (first sequence 1)
 * covers everything from its first hour. Fine buckets only where they are kept.
 */
export function rebuildRange(input: { since?: number; logStart: number; logComplete: boolean; now: number }): RebuildRange {
  const hour = RESOLUTIONS.hourly.sizeMs;
  const logFrom = input.logComplete ? bucketStart(input.logStart, 'hourly') : Math.ceil((input.logStart + DEFAULT_RESULT_WINDOW_MS) / hour) * hour;
  const asked = input.since === undefined ? logFrom : bucketStart(input.since, 'hourly');
  const from = Math.max(asked, logFrom);
  const out: RebuildRange = { fine: null, hourly: null, ...(asked < logFrom && input.since !== undefined ? { clippedToLog: logFrom } : {}) };
  for (const resolution of RESOLUTION_NAMES) {
    const to = bucketStart(input.now - SETTLE_MS, resolution);
    const start = resolution === 'fine' ? Math.max(from, pruneCutoff(input.now, 'fine')) : from;
    out[resolution] = start < to ? { from: start, to } : null;
  }
  return out;
}

export interface RebuildOptions {
  nc: NatsConnection;
  stream: string;
  cluster: HistoryCluster;
  log: Logger;
  /** Rebuild from here (default: as far back as the log goes). */
  since?: Date;
  now?: () => number;
  /** Rows held before they are written (the log may hold millions of results). */
  maxPendingRows?: number;
}

export interface RebuildReport {
  range: RebuildRange;
  /** Records of the log read, results counted, rows deleted and written per resolution. */
  records: number;
  results: number;
  deleted: Record<Resolution, number>;
  written: Record<Resolution, number>;
  /** Records the trust rules skipped (forged, other views: as every reader of the log does). */
  untrusted: number;
}

export async function rebuildHistory(options: RebuildOptions): Promise<RebuildReport> {
  const now = (options.now ?? Date.now)();
  const jsm = await jetstreamManager(options.nc);
  const info = await jsm.streams.info(options.stream);
  const empty: RebuildReport = { range: { fine: null, hourly: null }, records: 0, results: 0, deleted: { fine: 0, hourly: 0 }, written: { fine: 0, hourly: 0 }, untrusted: 0 };
  if (info.state.messages === 0) return empty;
  const range = rebuildRange({ since: options.since?.getTime(), logStart: Date.parse(info.state.first_ts), logComplete: info.state.first_seq <= 1, now });
  if (!range.fine && !range.hourly) return { ...empty, range };

  // As `bearmon replay` does: a log with views trusts controller lines only under them.
  const viewless = (await lastLoggedView(jsm, options.stream)) === undefined;
  const trust = new StreamTrust({ viewless });
  const sampler = new LogSampler(trust);

  const report: RebuildReport = { ...empty, range, deleted: { fine: 0, hourly: 0 }, written: { fine: 0, hourly: 0 } };
  for (const resolution of RESOLUTION_NAMES) {
    const r = range[resolution];
    if (r) report.deleted[resolution] = await deleteBuckets(options.cluster, resolution, r);
  }

  const maxPending = options.maxPendingRows ?? 50_000;
  const pending: Record<Resolution, Map<string, Rollup>> = { fine: new Map(), hourly: new Map() };
  const write = async () => {
    for (const resolution of RESOLUTION_NAMES) {
      const rows = [...pending[resolution].values()];
      pending[resolution] = new Map();
      // The same row written again later adds up (ON DUPLICATE KEY UPDATE): flushing part way is exact.
      for (let i = 0; i < rows.length; i += 1000) await upsertRollups(options.cluster, resolution, rows.slice(i, i + 1000));
      report.written[resolution] += rows.length;
    }
  };

  for await (const record of readLog(options.nc, { stream: options.stream })) {
    report.records += 1;
    const sample = sampler.apply({ subject: record.subject, text: record.text, seq: record.seq, time: record.time.getTime() });
    if (!sample) continue;
    const at = sampleTime(sample.at, sample.receivedAt);
    let counted = false;
    for (const resolution of RESOLUTION_NAMES) {
      const r = range[resolution];
      if (!r || at < r.from || at >= r.to) continue;
      counted = true;
      const start = bucketStart(at, resolution);
      const key = rollupKey(sample.checkId, start, sample.worker);
      let row = pending[resolution].get(key);
      if (!row) pending[resolution].set(key, (row = emptyRollup(sample.checkId, sample.worker, start)));
      addSample(row, sample);
    }
    if (counted) report.results += 1;
    if (pending.fine.size + pending.hourly.size >= maxPending) await write();
  }
  await write();
  report.untrusted = [...trust.skipped.values()].reduce((a, b) => a + b, 0);
  options.log.info({ ...report }, 'history rebuilt from the result log');
  return report;
}
