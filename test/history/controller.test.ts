import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { readLog } from '../../src/bus/result-log.ts';
import { StreamTrust } from '../../src/bus/trust.ts';
import { historyRebuildCommand } from '../../src/cli/history.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { HistorySample } from '../../src/history/buckets.ts';
import { LogSampler, rebuildHistory } from '../../src/history/rebuild.ts';
import { readRollups } from '../../src/history/store.ts';
import { createHistoryWriter } from '../../src/history/writer.ts';
import { captureLogs } from '../helpers/logs.ts';
import { testServerOptions } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { startCluster, STREAM, switchableTarget } from '../controller/harness.ts';
import { dsnOf, historyDatabase } from './helpers.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const THREE: [string, string][] = [
  ['w1', '127.0.0.2'],
  ['w2', '127.0.0.3'],
  ['w3', '127.0.0.4'],
];
const HOUR = 3_600_000;

/** What the log says the controller accepted (the rebuild's own reading of it). */
async function acceptedInLog(nc: Parameters<typeof readLog>[0]): Promise<number> {
  const sampler = new LogSampler(new StreamTrust({ viewless: true }));
  let accepted = 0;
  for await (const r of readLog(nc, { stream: STREAM })) if (sampler.apply({ subject: r.subject, text: r.text, seq: r.seq, time: r.time.getTime() })) accepted += 1;
  return accepted;
}

describe('history in a controller cluster (real NATS, real MariaDB)', () => {
  it('the controller writes rollups for the results it accepts, and `history rebuild` from the log writes the same rows', async () => {
    const live = await historyDatabase();
    const writer = createHistoryWriter({ cluster: live.cluster, log: live.logs.log, flushEveryMs: 300, pruneEveryMs: 0 });
    onTestFinished(() => writer.stop(1000));
    const recorded: HistorySample[] = [];
    const target = await switchableTarget();
    const down = await refusedPort();
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: THREE,
      checks: [
        { name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 },
        { name: 'closed port', type: 'tcp', data: { address: `127.0.0.1:${down}` }, interval: 1, delay: 0 },
      ],
      history: { record: (s) => (recorded.push(s), writer.record(s)) },
    });
    // Both verdicts, from every worker, and a flush or two while results keep coming.
    await expect.poll(() => new Set(recorded.map((s) => `${s.checkId}/${s.worker}/${s.status}`)).size, { timeout: 20_000 }).toBe(6);
    await expect.poll(() => writer.stats().written, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(recorded.filter((s) => s.checkId === 1).every((s) => s.status === 'online' && s.durationMs! > 0)).toBe(true);
    expect(recorded.filter((s) => s.checkId === 2).every((s) => s.status === 'offline')).toBe(true);

    // Quiet the cluster: no more runs; every result the log holds reaches the controller.
    for (const worker of cluster.workers.values()) await worker.stop();
    await expect.poll(async () => (await acceptedInLog(cluster.nc)) - recorded.length, { timeout: 10_000 }).toBe(0);
    await cluster.controller.stop();
    await writer.stop();
    expect(writer.stats()).toMatchObject({ pending: { fine: 0, hourly: 0 }, dropped: { fine: 0, hourly: 0 } });

    const liveHourly = await readRollups(live.cluster, 'hourly');
    const liveFine = await readRollups(live.cluster, 'fine');
    expect(liveHourly.reduce((n, r) => n + r.runs, 0)).toBe(recorded.length);
    expect(liveFine.reduce((n, r) => n + r.runs, 0)).toBe(recorded.length);
    expect(liveHourly.filter((r) => r.checkId === 2).reduce((n, r) => n + r.failures, 0)).toBe(recorded.filter((s) => s.checkId === 2).length);
    expect(liveHourly.filter((r) => r.checkId === 1).reduce((n, r) => n + r.latencyCount, 0)).toBe(recorded.filter((s) => s.checkId === 1).length);

    // Rebuilt into another database from the log alone. Its clock two hours on, so the
    // buckets of this test count as settled.
    const rebuilt = await historyDatabase();
    const later = () => Date.now() + 2 * HOUR;
    const report = await rebuildHistory({ nc: cluster.nc, stream: STREAM, cluster: rebuilt.cluster, log: rebuilt.logs.log, now: later });
    expect(report.results).toBe(recorded.length);
    expect(await readRollups(rebuilt.cluster, 'hourly')).toEqual(liveHourly);
    expect(await readRollups(rebuilt.cluster, 'fine')).toEqual(liveFine);

    // Again, through the command: the range is deleted and written again, the same rows.
    const { config } = loadConfig({ env: { BEARMON_NATS_URL: nats.url, BEARMON_NATS_STREAM: STREAM, BEARMON_CONTROLLER_DATABASE: dsnOf(rebuilt.db) } });
    const out: string[] = [];
    const err: string[] = [];
    expect(await historyRebuildCommand({}, { config, out: (l) => out.push(l), err: (l) => err.push(l), now: later, log: rebuilt.logs.log })).toBe(0);
    expect(err).toEqual([]);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain(`: ${recorded.length} result(s) from `);
    expect(out[0]).toContain(`rows deleted ${liveHourly.length} hourly, ${liveFine.length} fine`);
    expect(await readRollups(rebuilt.cluster, 'hourly')).toEqual(liveHourly);
    expect(await readRollups(rebuilt.cluster, 'fine')).toEqual(liveFine);

    // A bad --since changes nothing and says why.
    expect(await historyRebuildCommand({ since: 'last week' }, { config, out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(2);
    expect(err).toEqual(['bearmon: history rebuild: --since: expected a duration such as 6h or 7d, or an RFC 3339 time such as 2026-01-01T00:00:00Z (value "last week")']);
  }, 60_000);

  it('MySQL away for the history: the controller goes on deciding, and the rollups are written when it is back', async () => {
    const server = testServerOptions();
    const proxy = await startTcpProxy({ host: server.host ?? '127.0.0.1', port: server.port ?? 3306 });
    const history = await historyDatabase({ via: proxy });
    const writer = createHistoryWriter({ cluster: history.cluster, log: history.logs.log, flushEveryMs: 200, pruneEveryMs: 0 });
    onTestFinished(() => writer.stop(1000));
    const target = await switchableTarget();
    let recorded = 0;
    const cluster = await startCluster({
      natsUrl: nats.url,
      confirmations: 2,
      workers: THREE,
      checks: [{ name: 'web', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 0 }],
      history: { record: (s) => ((recorded += 1), writer.record(s)) },
    });
    await expect.poll(() => writer.stats().written, { timeout: 20_000 }).toBeGreaterThan(0);

    proxy.cut();
    await expect.poll(() => writer.stats().failedFlushes, { timeout: 10_000 }).toBeGreaterThan(0);
    target.up = false;
    // The controller decides (its own database is reachable) while every history flush fails.
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('offline');
    expect(await cluster.checkEvents(1)).toEqual([{ type: 'offline' }]);
    const failedSoFar = writer.stats().failedFlushes;
    expect(writer.stats().pending.hourly).toBeGreaterThan(0);
    expect(history.logs.matching(/MySQL unreachable; rollups wait in memory/).length).toBeGreaterThan(0);

    proxy.restore();
    target.up = true;
    await expect.poll(() => cluster.statusOf(1), { timeout: 20_000, interval: 200 }).toBe('online');
    for (const worker of cluster.workers.values()) await worker.stop();
    await cluster.controller.stop();
    await writer.stop();
    expect(writer.stats().failedFlushes).toBeGreaterThanOrEqual(failedSoFar);
    expect(writer.stats().dropped).toEqual({ fine: 0, hourly: 0 });
    const rows = await readRollups(history.cluster, 'hourly');
    // Every accepted result is in the rollups, the failures of the outage too.
    expect(rows.reduce((n, r) => n + r.runs, 0)).toBe(recorded);
    expect(rows.reduce((n, r) => n + r.failures, 0)).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
