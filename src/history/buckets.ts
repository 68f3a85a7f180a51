/**
 * Rollup arithmetic for the uptime and latency history (docs/HISTORY.md). Pure: no clock,
 * no database. A rollup is what one (check, worker, time bucket) row holds: run counts,
 * latency sum/min/max and counts in FIXED latency buckets. Fixed bounds are what make
 * rows mergeable: two rows (two workers, or twelve 5-minute buckets of one hour) add up
 * column by column, and a quantile estimated from the sum is as good as one from the
 * raw samples to within a bucket's width.
 */
import { DEFAULT_RESULT_WINDOW_MS, RECEIPT_TOLERANCE_MS } from '../replay/fold.ts';

export type Resolution = 'fine' | 'hourly';

export interface ResolutionSpec {
  table: string;
  /** Bucket width. Both divide a UTC day, so buckets align with days and hours. */
  sizeMs: number;
  /** Buckets whose start is older than this are pruned. */
  keepMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const RESOLUTIONS: Readonly<Record<Resolution, ResolutionSpec>> = {
  fine: { table: 'bearmon_history_fine', sizeMs: 5 * MINUTE, keepMs: 2 * DAY },
  hourly: { table: 'bearmon_history_hourly', sizeMs: HOUR, keepMs: 400 * DAY },
};

export const RESOLUTION_NAMES: readonly Resolution[] = ['fine', 'hourly'];

/**
 * Upper bounds (ms, inclusive) of the latency buckets; one more bucket holds everything
 * slower. Roughly ×2.5 steps: a quantile is off by at most one step's width, and ten
 * columns keep a row small (docs/HISTORY.md). Changing them changes the tables' columns:
 * never edit, only add a new schema version.
 */
export const LATENCY_BOUNDS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

/** Column names of the latency buckets, in order: h_10 … h_5000, h_inf. */
export const HISTOGRAM_COLUMNS: readonly string[] = [...LATENCY_BOUNDS_MS.map((b) => `h_${b}`), 'h_inf'];

export const BUCKET_COUNT = HISTOGRAM_COLUMNS.length;

/**
 * The largest value the latency columns hold (MEDIUMINT UNSIGNED): 4.6 hours. A run never
 * takes that long (checks time out after at most 30 s); the clamp only guards the column.
 */
export const MAX_LATENCY_MS = 16_777_215;

/** One accepted result as the controller hands it to the history. */
export interface HistorySample {
  checkId: number;
  worker: string;
  /** 'online', 'offline', or a worker-side outcome ('error', 'misconfigured'): counted as an error. */
  status: string;
  /** The worker's time of the result (ms). */
  at: number;
  /** When the controller (or, rebuilding, the stream) received it (ms): bounds `at`. */
  receivedAt: number;
  durationMs?: number;
}

/** What the controller calls for every accepted result (src/controller/controller.ts). */
export interface HistorySink {
  record(sample: HistorySample): void;
}

/** The columns of one rollup row. */
export interface Rollup {
  checkId: number;
  worker: string;
  /** Start of the bucket (ms since the epoch, UTC, aligned to the resolution). */
  bucketStart: number;
  runs: number;
  /** Results 'offline'. */
  failures: number;
  /** Results that were neither online nor offline (the worker could not run the check). */
  errors: number;
  /** Latency figures are of online results only (see latencyOf). */
  latencyCount: number;
  latencySumMs: number;
  latencyMinMs: number | null;
  latencyMaxMs: number | null;
  /** Counts per latency bucket (LATENCY_BOUNDS_MS, then the overflow bucket). */
  histogram: number[];
}

export function bucketStart(atMs: number, resolution: Resolution): number {
  const size = RESOLUTIONS[resolution].sizeMs;
  return Math.floor(atMs / size) * size;
}

/** Buckets whose start is before this are pruned at `now`. */
export function pruneCutoff(now: number, resolution: Resolution): number {
  return bucketStart(now - RESOLUTIONS[resolution].keepMs, resolution);
}

/**
 * The time a result is filed under. The worker's own `at` (the same in the live controller
 * and in a rebuild from the log, so both file a result in the same bucket), but never after
 * its receipt (+ the tolerance the fold allows) nor longer before it than a run can last:
 * a worker whose clock is off, or lies, cannot put rows into the future (never pruned) or
 * into long-closed buckets.
 */
export function sampleTime(at: number, receivedAt: number): number {
  if (!Number.isFinite(at)) return receivedAt;
  return Math.min(Math.max(at, receivedAt - DEFAULT_RESULT_WINDOW_MS), receivedAt + RECEIPT_TOLERANCE_MS);
}

/**
 * The latency a sample adds, or undefined. Only online results: an offline run's duration
 * is mostly its timeout (or a refused connection's few microseconds), and mixing those in
 * would make every outage look like a latency spike or dip. Failures are counted apart.
 */
export function latencyOf(sample: Pick<HistorySample, 'status' | 'durationMs'>): number | undefined {
  if (sample.status !== 'online') return undefined;
  const ms = sample.durationMs;
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(Math.round(ms), MAX_LATENCY_MS);
}

/** Index of the latency bucket holding `ms`. */
export function histogramIndex(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  return LATENCY_BOUNDS_MS.length;
}

export function emptyRollup(checkId: number, worker: string, bucketStartMs: number): Rollup {
  return {
    checkId,
    worker,
    bucketStart: bucketStartMs,
    runs: 0,
    failures: 0,
    errors: 0,
    latencyCount: 0,
    latencySumMs: 0,
    latencyMinMs: null,
    latencyMaxMs: null,
    histogram: new Array<number>(BUCKET_COUNT).fill(0),
  };
}

/** Adds one sample to a rollup (in place). */
export function addSample(rollup: Rollup, sample: Pick<HistorySample, 'status' | 'durationMs'>): void {
  rollup.runs += 1;
  if (sample.status === 'offline') rollup.failures += 1;
  else if (sample.status !== 'online') rollup.errors += 1;
  const ms = latencyOf(sample);
  if (ms === undefined) return;
  rollup.latencyCount += 1;
  rollup.latencySumMs += ms;
  rollup.latencyMinMs = rollup.latencyMinMs === null ? ms : Math.min(rollup.latencyMinMs, ms);
  rollup.latencyMaxMs = rollup.latencyMaxMs === null ? ms : Math.max(rollup.latencyMaxMs, ms);
  rollup.histogram[histogramIndex(ms)]! += 1;
}

/** Adds `from` into `into` (in place): what the database's ON DUPLICATE KEY UPDATE does. */
export function mergeInto(into: Rollup, from: Rollup): void {
  into.runs += from.runs;
  into.failures += from.failures;
  into.errors += from.errors;
  into.latencyCount += from.latencyCount;
  into.latencySumMs += from.latencySumMs;
  into.latencyMinMs = minOf(into.latencyMinMs, from.latencyMinMs);
  into.latencyMaxMs = maxOf(into.latencyMaxMs, from.latencyMaxMs);
  for (let i = 0; i < BUCKET_COUNT; i++) into.histogram[i]! += from.histogram[i] ?? 0;
}

const minOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** The rollup of several (other workers, other buckets), as one row would hold them. */
export function mergeRollups(rollups: readonly Rollup[], key: Pick<Rollup, 'checkId' | 'worker' | 'bucketStart'>): Rollup {
  const merged = emptyRollup(key.checkId, key.worker, key.bucketStart);
  for (const r of rollups) mergeInto(merged, r);
  return merged;
}

/**
 * The q-quantile (0..1) of the latencies a histogram counts, or null without any.
 * Linear within the bucket that holds the rank; a bucket's edges are narrowed to the
 * observed min and max, so a bucket holding one value gives that value exactly and the
 * overflow bucket is bounded by the max.
 */
export function quantileOf(histogram: readonly number[], q: number, minMs: number | null, maxMs: number | null): number | null {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: expected a number from 0 to 1 (value ${q})`);
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0 || minMs === null || maxMs === null) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < histogram.length; i++) {
    const count = histogram[i]!;
    if (count === 0) continue;
    if (below + count >= rank) {
      const lower = Math.max(i === 0 ? minMs : LATENCY_BOUNDS_MS[i - 1]!, minMs);
      const upper = Math.min(i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i]! : maxMs, maxMs);
      const value = lower + ((upper - lower) * Math.max(0, rank - below)) / count;
      return Math.min(Math.max(value, minMs), maxMs);
    }
    below += count;
  }
  return maxMs;
}

/** `checkId|bucketStart|worker`: one row of one table. */
export const rollupKey = (checkId: number, bucketStartMs: number, worker: string) => `${checkId}|${bucketStartMs}|${worker}`;
