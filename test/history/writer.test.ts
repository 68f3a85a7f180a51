import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LATENCY_BOUNDS_MS, RESOLUTIONS, type HistorySample, type Resolution } from '../../src/history/buckets.ts';
import { readRollups, upsertRollups } from '../../src/history/store.ts';
import { createHistoryWriter, type HistoryWriterOptions } from '../../src/history/writer.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { withConnection, testServerOptions } from '../helpers/mysql.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { captureLogs } from '../helpers/logs.ts';
import { countingCluster, historyDatabase } from './helpers.ts';

const T = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function openWriter(options: HistoryWriterOptions) {
  // No timers of its own in these tests: they flush and prune when the test says.
  const writer = createHistoryWriter({ flushEveryMs: 3_600_000, pruneEveryMs: 0, ...options });
  onTestFinished(() => writer.stop(1000));
  return writer;
}

/** The expected row for some samples, computed apart from the code under test. */
function expectedRow(samples: HistorySample[]) {
  const online = samples.filter((s) => s.status === 'online').map((s) => Math.round(s.durationMs!));
  const bounds = [...LATENCY_BOUNDS_MS, Infinity];
  return {
    runs: samples.length,
    failures: samples.filter((s) => s.status === 'offline').length,
    errors: samples.filter((s) => s.status !== 'online' && s.status !== 'offline').length,
    latencyCount: online.length,
    latencySumMs: online.reduce((a, b) => a + b, 0),
    latencyMinMs: online.length ? Math.min(...online) : null,
    latencyMaxMs: online.length ? Math.max(...online) : null,
    histogram: bounds.map((b, i) => online.filter((v) => v <= b && (i === 0 || v > bounds[i - 1]!)).length),
  };
}

/** Two hours of results: 2 checks, 3 workers in rotation, a failure every tenth minute, a worker error now and then. */
function twoHours(start = T('2026-03-01T10:00:00Z')): HistorySample[] {
  const samples: HistorySample[] = [];
  for (let minute = 0; minute < 120; minute++) {
    for (const checkId of [1, 2]) {
      const at = start + minute * 60_000 + checkId * 1000;
      const status = minute % 10 === 9 ? 'offline' : minute % 17 === 5 ? 'error' : 'online';
      samples.push({ checkId, worker: ['w1', 'w2', 'w3'][minute % 3]!, status, at, receivedAt: at + 5, durationMs: checkId * 7 + minute * 23.4 });
    }
  }
  return samples;
}

function groupBy(samples: HistorySample[], resolution: Resolution) {
  const size = RESOLUTIONS[resolution].sizeMs;
  const groups = new Map<string, { checkId: number; worker: string; bucketStart: number; samples: HistorySample[] }>();
  for (const s of samples) {
    const bucketStart = Math.floor(s.at / size) * size;
    const key = `${s.checkId}|${bucketStart}|${s.worker}`;
    if (!groups.has(key)) groups.set(key, { checkId: s.checkId, worker: s.worker, bucketStart, samples: [] });
    groups.get(key)!.samples.push(s);
  }
  return [...groups.values()]
    .sort((a, b) => a.checkId - b.checkId || a.bucketStart - b.bucketStart || a.worker.localeCompare(b.worker))
    .map((g) => ({ checkId: g.checkId, worker: g.worker, bucketStart: g.bucketStart, ...expectedRow(g.samples) }));
}

async function metricValue(registry: ReturnType<typeof createMetrics>['registry'], sample: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

describe('history writer (real MariaDB)', () => {
  it('keeps results in memory and writes them as one multi-row upsert per table per flush', async () => {
    const { cluster } = await historyDatabase();
    const counting = countingCluster(cluster);
    const writer = openWriter({ cluster: counting, log: captureLogs().log });
    const samples = twoHours();
    for (const s of samples) writer.record(s);
    expect(counting.statements).toEqual([]);
    expect(writer.stats().pending).toEqual({ fine: groupBy(samples, 'fine').length, hourly: groupBy(samples, 'hourly').length });

    await writer.flush();
    expect(counting.statements.map((s) => s.slice(0, 40))).toEqual(['INSERT INTO bearmon_history_fine (check_', 'INSERT INTO bearmon_history_hourly (chec']);
    expect(await readRollups(cluster, 'hourly')).toEqual(groupBy(samples, 'hourly'));
    expect(await readRollups(cluster, 'fine')).toEqual(groupBy(samples, 'fine'));
    expect(writer.stats()).toMatchObject({ pending: { fine: 0, hourly: 0 }, written: groupBy(samples, 'fine').length + groupBy(samples, 'hourly').length });
  });

  it('a later flush adds into the same rows: counts add up, min and max widen', async () => {
    const { cluster } = await historyDatabase();
    const writer = openWriter({ cluster, log: captureLogs().log });
    const samples = twoHours();
    const [first, second] = [samples.filter((_, i) => i % 2 === 0), samples.filter((_, i) => i % 2 === 1)];
    for (const s of first) writer.record(s);
    await writer.flush();
    for (const s of second) writer.record(s);
    await writer.flush();
    expect(await readRollups(cluster, 'hourly')).toEqual(groupBy(samples, 'hourly'));
    expect(await readRollups(cluster, 'fine')).toEqual(groupBy(samples, 'fine'));
  });

  it('prunes fine buckets older than 2 days and hourly ones older than 400 days, and nothing else', async () => {
    const { cluster } = await historyDatabase();
    const now = T('2026-03-10T12:34:00Z');
    const row = (checkId: number, bucketStart: number) => ({ ...expectedRow([]), checkId, worker: 'w1', bucketStart, runs: 1 });
    const fine = [now - 3 * DAY, now - 2 * DAY - 10 * 60_000, now - 2 * DAY, now - 2 * DAY + 60_000, now - HOUR].map((t) => Math.floor(t / 300_000) * 300_000);
    const hourly = [now - 500 * DAY, now - 401 * DAY, now - 399 * DAY, now - 3 * DAY].map((t) => Math.floor(t / HOUR) * HOUR);
    for (const checkId of [1, 2, 3]) {
      await upsertRollups(cluster, 'fine', fine.map((t) => row(checkId, t)));
      await upsertRollups(cluster, 'hourly', hourly.map((t) => row(checkId, t)));
    }
    const writer = openWriter({ cluster, log: captureLogs().log, now: () => now });
    expect(await writer.prune()).toEqual({ fine: 6, hourly: 6 });
    expect([...new Set((await readRollups(cluster, 'fine')).map((r) => new Date(r.bucketStart).toISOString()))]).toEqual(['2026-03-08T12:30:00.000Z', '2026-03-08T12:35:00.000Z', '2026-03-10T11:30:00.000Z']);
    expect([...new Set((await readRollups(cluster, 'hourly')).map((r) => new Date(r.bucketStart).toISOString()))]).toEqual(['2025-02-04T12:00:00.000Z', '2026-03-07T12:00:00.000Z']);
    expect(await writer.prune()).toEqual({ fine: 0, hourly: 0 });
  });

  it('MySQL away: recording goes on, rows wait (bounded, the rest dropped and counted), and are written when it is back', async () => {
    const server = testServerOptions();
    const proxy = await startTcpProxy({ host: server.host ?? '127.0.0.1', port: server.port ?? 3306 });
    const logs = captureLogs();
    const { cluster } = await historyDatabase({ via: proxy, logs });
    const metrics = createMetrics();
    const writer = openWriter({ cluster, log: logs.log, metrics, maxPendingRows: 5 });
    const at = T('2026-03-01T10:00:00Z');
    const sample = (checkId: number, durationMs: number): HistorySample => ({ checkId, worker: 'w1', status: 'online', at, receivedAt: at, durationMs });

    proxy.cut();
    for (const checkId of [1, 2, 3]) writer.record(sample(checkId, 100));
    await writer.flush();
    expect(writer.stats()).toMatchObject({ pending: { fine: 3, hourly: 3 }, failedFlushes: 1, written: 0 });
    expect(logs.matching(/MySQL unreachable; rollups wait in memory/)).toHaveLength(1);
    expect(await metricValue(metrics.registry, 'bearmon_history_flush_failures_total')).toBe(1);
    expect(await metricValue(metrics.registry, 'bearmon_history_pending_rows')).toBe(6);

    // Two more rows fit; two do not. A row already waiting still takes its increments.
    for (const checkId of [4, 5, 6, 7]) writer.record(sample(checkId, 200));
    writer.record(sample(1, 300));
    expect(writer.stats()).toMatchObject({ pending: { fine: 5, hourly: 5 }, dropped: { fine: 2, hourly: 2 } });
    expect(await metricValue(metrics.registry, 'bearmon_history_dropped_total{resolution="fine"}')).toBe(2);
    expect(await metricValue(metrics.registry, 'bearmon_history_dropped_total{resolution="hourly"}')).toBe(2);
    // Logged once a minute at most (a long outage would drop thousands), the metric has the count.
    expect(logs.matching(/history: dropped rollup increments/)).toMatchObject([{ level: 'warn', why: 'batch full: MySQL has been unreachable for long' }]);

    proxy.restore();
    await writer.flush();
    const rows = await readRollups(cluster, 'hourly');
    expect(rows.map((r) => [r.checkId, r.runs, r.latencySumMs, r.latencyMinMs, r.latencyMaxMs])).toEqual([
      [1, 2, 400, 100, 300],
      [2, 1, 100, 100, 100],
      [3, 1, 100, 100, 100],
      [4, 1, 200, 200, 200],
      [5, 1, 200, 200, 200],
    ]);
    expect(writer.stats()).toMatchObject({ pending: { fine: 0, hourly: 0 }, written: 10 });
    expect(await metricValue(metrics.registry, 'bearmon_history_rows_written_total')).toBe(10);
  });

  it('rows MySQL refuses (a table missing) are dropped and counted; the other table is still written', async () => {
    const { db, cluster } = await historyDatabase();
    await withConnection(db, (c) => c.query('DROP TABLE bearmon_history_fine'));
    const logs = captureLogs();
    const writer = openWriter({ cluster, log: logs.log });
    const samples = twoHours().slice(0, 10);
    for (const s of samples) writer.record(s);
    await writer.flush();
    expect(writer.stats().dropped).toEqual({ fine: 10, hourly: 0 });
    expect(logs.matching(/dropped rollup increments/)[0]!.why).toMatch(/MySQL refused the rows: .*bearmon_history_fine/);
    expect(await readRollups(cluster, 'hourly')).toEqual(groupBy(samples, 'hourly'));
  });

  it('ignores what could not come from the controller, without throwing', async () => {
    const { cluster } = await historyDatabase();
    const writer = openWriter({ cluster, log: captureLogs().log });
    const at = T('2026-03-01T10:00:00Z');
    writer.record({ checkId: 0, worker: 'w1', status: 'online', at, receivedAt: at });
    writer.record({ checkId: 1.5, worker: 'w1', status: 'online', at, receivedAt: at });
    writer.record({ checkId: 1, worker: "w'1", status: 'online', at, receivedAt: at });
    writer.record(null as unknown as HistorySample);
    expect(writer.stats().pending).toEqual({ fine: 0, hourly: 0 });
  });

  it('stop writes what waits', async () => {
    const { cluster } = await historyDatabase();
    const writer = createHistoryWriter({ cluster, log: captureLogs().log, flushEveryMs: 3_600_000, pruneEveryMs: 0 });
    const samples = twoHours().slice(0, 30);
    for (const s of samples) writer.record(s);
    await writer.stop();
    expect(await readRollups(cluster, 'hourly')).toEqual(groupBy(samples, 'hourly'));
    const [rows] = await cluster.run((pool) => pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM bearmon_history_fine'));
    expect(Number(rows[0]!.n)).toBe(groupBy(samples, 'fine').length);
  });
});
