/**
 * The history writer: the controller hands it every accepted result (record, synchronous,
 * O(1)); it adds the result into in-memory rollups and, every few seconds, upserts them
 * with one multi-row INSERT … ON DUPLICATE KEY UPDATE per table. MySQL never sits on the
 * controller's path: a flush that fails keeps its rows for the next, the batch is bounded
 * (increments to rows not yet waiting are dropped and counted when it is full), and no
 * error reaches the caller. Old buckets are pruned now and then.
 *
 * Increments merge, so an outage costs memory per distinct row, not per result: a
 * 5-minute bucket of 10,000 checks on 3 workers is at most 30,000 rows whatever the rate.
 */
import { errorMessage, isConnectionError } from '../db/errors.ts';
import type { Logger } from '../log.ts';
import { createLogLimiter } from '../log-limit.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import {
  addSample,
  bucketStart,
  emptyRollup,
  mergeInto,
  pruneCutoff,
  RESOLUTION_NAMES,
  rollupKey,
  sampleTime,
  type HistorySample,
  type HistorySink,
  type Resolution,
  type Rollup,
} from './buckets.ts';
import { deleteBuckets, upsertRollups, WORKER_ID, type HistoryCluster } from './store.ts';

export interface HistoryWriterOptions {
  cluster: HistoryCluster;
  log: Logger;
  metrics?: Metrics;
  now?: () => number;
  /** How often waiting rows are written (default 5 s). */
  flushEveryMs?: number;
  /**
   * Rows that may wait per resolution (default 60,000: ~15 MB each). Beyond it, increments
   * to rows not already waiting are dropped (and counted): the hourly table, with 12× fewer
   * rows per hour, rides out a 12× longer outage than the fine one.
   */
  maxPendingRows?: number;
  /** Rows per INSERT statement (default 1,000: ~200 KB of SQL, far below max_allowed_packet). */
  rowsPerStatement?: number;
  /** How often old buckets are deleted (default 1 h; 0: never, e.g. a rebuild's writer). */
  pruneEveryMs?: number;
  /** The first prune, after start (default 1 min: not in the rush of a take-over). */
  firstPruneAfterMs?: number;
}

export interface HistoryWriterStats {
  pending: Record<Resolution, number>;
  /** Increments dropped because the batch was full (or a row MySQL refused). */
  dropped: Record<Resolution, number>;
  /** Rows upserted. */
  written: number;
  failedFlushes: number;
}

export interface HistoryWriter extends HistorySink {
  /** Writes what waits now (waits for a flush already running first). Never rejects. */
  flush(): Promise<void>;
  /** Deletes buckets past their resolution's retention; returns rows deleted. Rejects on a database error. */
  prune(): Promise<Record<Resolution, number>>;
  stats(): HistoryWriterStats;
  /** Stops the timers and writes what waits, once, giving up after `graceMs` (default 5 s; MySQL may be away). */
  stop(graceMs?: number): Promise<void>;
}

export function createHistoryWriter(options: HistoryWriterOptions): HistoryWriter {
  const now = options.now ?? Date.now;
  const log = options.log.child({ component: 'history' });
  const metrics = options.metrics ?? noMetrics;
  const maxPending = options.maxPendingRows ?? 60_000;
  const rowsPerStatement = options.rowsPerStatement ?? 1000;
  const pending: Record<Resolution, Map<string, Rollup>> = { fine: new Map(), hourly: new Map() };
  const dropped: Record<Resolution, number> = { fine: 0, hourly: 0 };
  let written = 0;
  let failedFlushes = 0;
  let stopped = false;
  const mayLog = createLogLimiter(now, { perWindow: 1 });

  const pendingRows = () => pending.fine.size + pending.hourly.size;

  const drop = (resolution: Resolution, increments: number, why: string) => {
    if (increments <= 0) return;
    dropped[resolution] += increments;
    metrics.historyDropped(resolution, increments);
    if (mayLog(`dropped:${why}`)) {
      log.warn({ resolution, dropped: { ...dropped }, pending: pendingRows(), why }, `history: dropped rollup increments (${why}); \`bearmon history rebuild\` restores them from the result log`);
    }
  };

  /** A row into the waiting batch; false when the batch is full and the row not already in it. */
  const rowFor = (resolution: Resolution, checkId: number, start: number, worker: string): Rollup | undefined => {
    const batch = pending[resolution];
    const key = rollupKey(checkId, start, worker);
    let row = batch.get(key);
    if (row) return row;
    if (batch.size >= maxPending) return undefined;
    row = emptyRollup(checkId, worker, start);
    batch.set(key, row);
    return row;
  };

  const record = (sample: HistorySample) => {
    // The controller's path: nothing here may throw or wait.
    try {
      if (!Number.isSafeInteger(sample.checkId) || sample.checkId <= 0 || !WORKER_ID.test(sample.worker)) return;
      const at = sampleTime(sample.at, sample.receivedAt);
      for (const resolution of RESOLUTION_NAMES) {
        const row = rowFor(resolution, sample.checkId, bucketStart(at, resolution), sample.worker);
        if (row) addSample(row, sample);
        else drop(resolution, 1, 'batch full: MySQL has been unreachable for long');
      }
    } catch (err) {
      if (mayLog('record')) log.error({ error: errorMessage(err) }, 'history: could not record a result');
    }
  };

  /** Rows a failed flush took out go back, merged with what came meanwhile, as room allows. */
  const putBack = (resolution: Resolution, rows: readonly Rollup[]) => {
    let lost = 0;
    for (const row of rows) {
      const into = rowFor(resolution, row.checkId, row.bucketStart, row.worker);
      if (into) mergeInto(into, row);
      else lost += row.runs;
    }
    drop(resolution, lost, 'batch full: MySQL has been unreachable for long');
  };

  const writeAll = async () => {
    for (const resolution of RESOLUTION_NAMES) {
      const batch = pending[resolution];
      if (batch.size === 0) continue;
      pending[resolution] = new Map();
      const rows = [...batch.values()];
      for (let i = 0; i < rows.length; i += rowsPerStatement) {
        const part = rows.slice(i, i + rowsPerStatement);
        try {
          await upsertRollups(options.cluster, resolution, part);
          written += part.length;
          metrics.historyFlush('written', part.length, pendingRows());
        } catch (err) {
          if (isConnectionError(err)) {
            // Unreachable (or timed out, in which case the rows may have landed: a retry
            // then counts them twice; `history rebuild` makes such a bucket exact again).
            putBack(resolution, rows.slice(i));
            failedFlushes += 1;
            metrics.historyFlush('failed', 0, pendingRows());
            if (mayLog('flush')) log.warn({ error: errorMessage(err), pending: pendingRows(), failedFlushes }, 'history: MySQL unreachable; rollups wait in memory and are written when it is back');
            return;
          }
          // MySQL refused the statement (a missing table: `bearmon db migrate` not run): it
          // would refuse it again, so these rows go.
          drop(resolution, part.reduce((n, r) => n + r.runs, 0), `MySQL refused the rows: ${errorMessage(err)}`);
        }
      }
    }
  };

  let flushing: Promise<void> | undefined;
  const flush = (): Promise<void> => {
    const run = async () => {
      if (flushing) await flushing;
      if (pendingRows() === 0) return;
      const current = writeAll();
      flushing = current;
      try {
        await current;
      } finally {
        if (flushing === current) flushing = undefined;
      }
    };
    return run().catch((err: unknown) => {
      if (mayLog('flush-bug')) log.error({ error: errorMessage(err) }, 'history: flush failed');
    });
  };

  const prune = async (): Promise<Record<Resolution, number>> => {
    const deleted: Record<Resolution, number> = { fine: 0, hourly: 0 };
    const at = now();
    for (const resolution of RESOLUTION_NAMES) {
      deleted[resolution] = await deleteBuckets(options.cluster, resolution, { to: pruneCutoff(at, resolution) }, () => stopped);
    }
    if (deleted.fine + deleted.hourly > 0) log.info({ deleted }, 'history: pruned old buckets');
    return deleted;
  };

  const flushEveryMs = options.flushEveryMs ?? 5000;
  const flushTimer = setInterval(() => {
    // One at a time: a flush still waiting for MySQL is not joined by another.
    if (!flushing) void flush();
  }, flushEveryMs);
  flushTimer.unref();
  const pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  let pruning = false;
  const pruneOnce = () => {
    if (pruning || stopped) return;
    pruning = true;
    prune()
      .catch((err: unknown) => {
        if (mayLog('prune')) log.warn({ error: errorMessage(err) }, 'history: could not prune old buckets; trying again later');
      })
      .finally(() => (pruning = false));
  };
  const pruneTimers: NodeJS.Timeout[] = [];
  if (pruneEveryMs > 0) {
    const first = setTimeout(() => {
      pruneOnce();
      const every = setInterval(pruneOnce, pruneEveryMs);
      every.unref();
      pruneTimers.push(every);
    }, options.firstPruneAfterMs ?? 60_000);
    first.unref();
    pruneTimers.push(first);
  }

  return {
    record,
    flush,
    prune,
    stats: () => ({ pending: { fine: pending.fine.size, hourly: pending.hourly.size }, dropped: { ...dropped }, written, failedFlushes }),
    stop: async (graceMs = 5000) => {
      if (stopped) return;
      stopped = true;
      clearInterval(flushTimer);
      for (const t of pruneTimers) clearTimeout(t);
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([flush(), grace]);
      clearTimeout(timer);
      const left = pendingRows();
      if (left > 0) log.warn({ pending: left }, 'history: stopped with rollups unwritten (MySQL unreachable); `bearmon history rebuild` restores them from the result log');
    },
  };
}
