/**
 * History (issue 14): what the rollups cost.
 *
 * 1. CPU: the history writer alone (src/history/writer.ts), fed synthetic accepted results
 *    at the rate of 10,000 checks every 60 s (≈167/s, over 3 workers), writing to a real
 *    MariaDB every 5 s as in the controller. process.cpuUsage() over the window, minus a
 *    baseline window with the same feed into a sink that does nothing: the controller's
 *    extra CPU for rollups, as a share of one core (target ≤ 5 %).
 * 2. Storage: a year of hourly rollups (and two days of fine ones) for a few checks × 3
 *    workers, inserted hour by hour as the writer would (all checks of an hour together,
 *    so the key's pages split as in life), then rows × avg_row_length and data+index
 *    length from information_schema after ANALYZE TABLE.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { createCluster, type Cluster } from '../src/db/cluster.ts';
import { addSample, emptyRollup, RESOLUTIONS, type HistorySample, type HistorySink, type Resolution, type Rollup } from '../src/history/buckets.ts';
import { upsertRollups } from '../src/history/store.ts';
import { createHistoryWriter } from '../src/history/writer.ts';
import { createLogger } from '../src/log.ts';
import { createMetrics } from '../src/metrics/metrics.ts';
import { createBenchDatabase } from './database.ts';
import { cpuMicrosMs } from './proc-cpu.ts';
import type { BenchReport } from './report.ts';
import { round1 } from './stats.ts';

export interface HistoryBenchOptions {
  checks: number;
  intervalS: number;
  workers: number;
  /** Seconds of feed with the writer, and with a sink that does nothing. */
  windowS: number;
  baselineS: number;
  /** Checks given a year of hourly rollups. */
  storageChecks: number;
}

export const HISTORY_DEFAULTS: HistoryBenchOptions = { checks: 10_000, intervalS: 60, workers: 3, windowS: 60, baselineS: 30, storageChecks: 5 };
export const HISTORY_QUICK: HistoryBenchOptions = { checks: 10_000, intervalS: 60, workers: 3, windowS: 8, baselineS: 4, storageChecks: 2 };

const CPU_TARGET_PERCENT = 5;

/** A latency like a web check's: mostly tens of ms, a tail to seconds (deterministic). */
function latency(i: number): number {
  const u = ((Math.imul(i, 2654435761) >>> 0) % 10_000) / 10_000;
  return Math.round(15 * Math.exp(4 * u * u));
}

/** Feeds `sink` at checks/interval results per second for `seconds`, as the controller would accept them. */
async function feed(sink: HistorySink, options: HistoryBenchOptions, seconds: number, offset: number): Promise<{ cpuMs: number; wallMs: number; results: number }> {
  const perSecond = options.checks / options.intervalS;
  let sent = 0;
  const startCpu = process.cpuUsage();
  const began = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = (performance.now() - began) / 1000;
      const due = Math.min(Math.floor(perSecond * elapsed), Math.floor(perSecond * seconds));
      const now = Date.now();
      for (; sent < due; sent++) {
        const n = offset + sent;
        const sample: HistorySample = {
          checkId: (n % options.checks) + 1,
          worker: `w${(Math.floor(n / options.checks) % options.workers) + 1}`,
          status: n % 50 === 7 ? 'offline' : n % 997 === 3 ? 'error' : 'online',
          at: now - 3,
          receivedAt: now,
          durationMs: latency(n),
        };
        sink.record(sample);
      }
      if (elapsed >= seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
  });
  return { cpuMs: cpuMicrosMs(process.cpuUsage(startCpu)), wallMs: performance.now() - began, results: sent };
}

async function cpuPhase(cluster: Cluster, options: HistoryBenchOptions) {
  const log = createLogger({ level: 'silent' });
  // Warm-up: JIT, pool connections.
  const warm = createHistoryWriter({ cluster, log, flushEveryMs: 1000, pruneEveryMs: 0 });
  await feed(warm, options, 2, 0);
  await warm.stop();

  const baseline = await feed({ record: () => {} }, options, options.baselineS, 1_000_000);
  const flushes: number[] = [];
  const timed: Cluster = {
    ...cluster,
    run: async (work) => {
      const began = performance.now();
      try {
        return await cluster.run(work);
      } finally {
        flushes.push(performance.now() - began);
      }
    },
  };
  const writer = createHistoryWriter({ cluster: timed, log, flushEveryMs: 5000, pruneEveryMs: 0 });
  const measured = await feed(writer, options, options.windowS, 2_000_000);
  await writer.stop();
  const stats = writer.stats();
  const baselinePercent = (baseline.cpuMs / baseline.wallMs) * 100;
  const withPercent = (measured.cpuMs / measured.wallMs) * 100;
  return { baselinePercent, withPercent, extraPercent: withPercent - baselinePercent, results: measured.results, wallMs: measured.wallMs, statements: flushes, stats };
}

async function storagePhase(cluster: Cluster, options: HistoryBenchOptions) {
  const hour = RESOLUTIONS.hourly.sizeMs;
  const end = Math.floor(Date.now() / hour) * hour;
  const row = (checkId: number, worker: string, start: number, runs: number, seed: number): Rollup => {
    const r = emptyRollup(checkId, worker, start);
    for (let i = 0; i < runs; i++) addSample(r, { status: (seed + i) % 50 === 7 ? 'offline' : 'online', durationMs: latency(seed + i) });
    return r;
  };
  const workers = Array.from({ length: options.workers }, (_, i) => `w${i + 1}`);
  const insert = async (resolution: Resolution, buckets: number) => {
    const size = RESOLUTIONS[resolution].sizeMs;
    // A check every 60 s over 3 workers: 20 runs per worker-hour, 1-2 per worker and 5 minutes.
    const runs = resolution === 'hourly' ? 20 : 2;
    let batch: Rollup[] = [];
    for (let b = buckets; b > 0; b--) {
      const start = end - b * size;
      for (let c = 1; c <= options.storageChecks; c++) for (const w of workers) batch.push(row(c, w, start, runs, b * 31 + c));
      if (batch.length >= 1000) {
        await upsertRollups(cluster, resolution, batch);
        batch = [];
      }
    }
    await upsertRollups(cluster, resolution, batch);
  };
  // Only this phase's rows (the CPU phase wrote the current hour of 10,000 checks).
  await cluster.run((pool) => pool.query('TRUNCATE TABLE bearmon_history_hourly'));
  await cluster.run((pool) => pool.query('TRUNCATE TABLE bearmon_history_fine'));
  await insert('hourly', 365 * 24);
  await insert('fine', 2 * 24 * 12);
  const sizes = await cluster.run(async (pool) => {
    await pool.query('ANALYZE TABLE bearmon_history_hourly, bearmon_history_fine');
    const [rows] = await pool.query<RowDataPacket[]>(
      `SELECT table_name AS name, table_rows AS rows_, avg_row_length AS avg, data_length AS data, index_length AS idx
         FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('bearmon_history_hourly', 'bearmon_history_fine')`,
    );
    const [[counted]] = (await pool.query<RowDataPacket[]>('SELECT (SELECT COUNT(*) FROM bearmon_history_hourly) AS hourly, (SELECT COUNT(*) FROM bearmon_history_fine) AS fine')) as unknown as [RowDataPacket[]];
    return { tables: rows, counted: counted! };
  });
  const of = (name: string) => sizes.tables.find((t) => t.name === name)!;
  const hourly = of('bearmon_history_hourly');
  const fine = of('bearmon_history_fine');
  const checks = options.storageChecks;
  return {
    hourlyRows: Number(sizes.counted.hourly),
    fineRows: Number(sizes.counted.fine),
    avgRowHourly: Number(hourly.avg),
    avgRowFine: Number(fine.avg),
    // rows × avg_row_length, as the issue asks; and what the table takes on disk, index included.
    perCheckYearRowsXAvg: (Number(sizes.counted.hourly) * Number(hourly.avg)) / checks,
    perCheckYearOnDisk: (Number(hourly.data) + Number(hourly.idx)) / checks,
    perCheckFineOnDisk: (Number(fine.data) + Number(fine.idx)) / checks,
  };
}

/**
 * 3. The per-check series at scrape time: bearmon_check_up/state for every check and
 *    bearmon_check_duration_seconds for every (worker, check), as the controller process
 *    serves them; CPU and size of one GET /metrics body (the registry's text), median of 3.
 */
async function scrapePhase(options: HistoryBenchOptions) {
  const metrics = createMetrics();
  const checks = Array.from({ length: options.checks }, (_, i) => ({ id: i + 1, type: 'http', state: 'online' as const, status: 'online' as const }));
  metrics.source('checks', () => ({ perCheck: checks }));
  for (const c of checks) for (let w = 1; w <= options.workers; w++) metrics.checkDuration(`w${w}`, c.id, latency(c.id * w) / 1000);
  const runs: { cpuMs: number; bytes: number; lines: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const cpu = process.cpuUsage();
    const text = await metrics.registry.metrics();
    runs.push({ cpuMs: cpuMicrosMs(process.cpuUsage(cpu)), bytes: text.length, lines: text.split('\n').length });
  }
  runs.sort((a, b) => a.cpuMs - b.cpuMs);
  return runs[1]!;
}

export async function benchHistory(options: HistoryBenchOptions = HISTORY_DEFAULTS): Promise<BenchReport> {
  const db = await createBenchDatabase();
  const cluster = createCluster({ dsns: [db.dsn], log: createLogger({ level: 'silent' }) });
  try {
    const cpu = await cpuPhase(cluster, options);
    const storage = await storagePhase(cluster, options);
    const scrape = await scrapePhase(options);
    const kb = (bytes: number) => Math.round(bytes / 1024);
    const statements = cpu.statements.length;
    const failed = cpu.stats.dropped.fine + cpu.stats.dropped.hourly > 0 || cpu.stats.failedFlushes > 0;
    return {
      name: 'history: rollup writer CPU and storage',
      method: `${options.checks.toLocaleString('en')} checks every ${options.intervalS} s over ${options.workers} workers (${round1(options.checks / options.intervalS)} results/s) into the writer for ${options.windowS} s, flushing every 5 s to a local MariaDB; CPU from process.cpuUsage() minus a ${options.baselineS} s baseline of the same feed into a no-op sink. Storage: ${options.storageChecks} checks × ${options.workers} workers × a year of hourly rows inserted hour by hour, then information_schema after ANALYZE TABLE. Scrape: the metrics registry's text with every check's series.`,
      figures: [
        ...(failed ? [{ label: `failed: the writer dropped rows or failed a flush (${JSON.stringify(cpu.stats)})`, value: NaN, unit: '' }] : []),
        { label: 'results recorded', value: cpu.results, unit: '' },
        { label: 'extra CPU for rollups (writer − baseline)', value: Math.round(cpu.extraPercent * 100) / 100, unit: '% of a core', target: `≤ ${CPU_TARGET_PERCENT}`, pass: cpu.extraPercent <= CPU_TARGET_PERCENT },
        { label: 'CPU with the writer, feed included', value: Math.round(cpu.withPercent * 100) / 100, unit: '% of a core' },
        { label: 'CPU of the feed alone (baseline)', value: Math.round(cpu.baselinePercent * 100) / 100, unit: '% of a core' },
        { label: 'INSERT statements', value: statements, unit: '' },
        { label: 'rows written', value: cpu.stats.written, unit: '' },
        { label: 'statement time, max', value: Math.round(Math.max(0, ...cpu.statements)), unit: 'ms', n: statements },
        { label: `one scrape of the per-check series (${options.checks.toLocaleString('en')} checks × ${options.workers} workers): CPU, median of 3`, value: Math.round(scrape.cpuMs), unit: 'ms' },
        { label: 'one scrape: body size', value: round1(scrape.bytes / 1e6), unit: 'MB' },
        { label: 'one scrape: lines', value: scrape.lines, unit: '' },
        { label: 'hourly rows (a year × checks × workers)', value: storage.hourlyRows, unit: '' },
        { label: 'avg_row_length, hourly', value: storage.avgRowHourly, unit: 'B' },
        { label: 'per check per year: rows × avg_row_length', value: kb(storage.perCheckYearRowsXAvg), unit: 'KB' },
        { label: 'per check per year: data + index on disk', value: kb(storage.perCheckYearOnDisk), unit: 'KB' },
        { label: 'per check: 2 days of fine rows on disk', value: kb(storage.perCheckFineOnDisk), unit: 'KB' },
      ],
    };
  } finally {
    await cluster.close();
    await db.drop().catch(() => {});
  }
}
