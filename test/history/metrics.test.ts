import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { createMetrics, type CheckSeries } from '../../src/metrics/metrics.ts';
import { serveMetrics } from '../../src/metrics/server.ts';
import { startBearmon } from '../helpers/bearmon.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { refusedPort, tcpServer } from '../helpers/servers.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

/** One sample's value from Prometheus text, e.g. value(text, 'bearmon_check_up{check_id="1",type="tcp"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  return response.ok ? response.text() : '';
}

describe('per-check metrics', () => {
  it('bearmon_check_up, bearmon_check_state and bearmon_check_duration_seconds follow the controller\'s checks', async () => {
    const metrics = createMetrics();
    const server = await serveMetrics(metrics.registry, { host: '127.0.0.1', port: 0 }, captureLogs().log);
    onTestFinished(() => server.close());
    const url = `http://${server.address}/metrics`;
    let checks: CheckSeries[] = [
      { id: 1, type: 'http', state: 'online', status: 'online' },
      { id: 2, type: 'tcp', state: 'pending', status: 'online' },
      { id: 3, type: 'dns', state: 'offline', status: 'offline' },
      { id: 4, type: '', state: 'misconfigured' },
    ];
    metrics.source('checks', () => ({ perCheck: checks }));
    metrics.checkDuration('w1', 1, 0.03);
    metrics.checkDuration('w1', 1, 0.2);
    metrics.checkDuration('w2', 1, 4);
    metrics.checkDuration('w2', 3, 0.07);

    let text = await scrape(url);
    expect(value(text, 'bearmon_check_up{check_id="1",type="http"}')).toBe(1);
    // Pending: still what it was until the change is confirmed.
    expect(value(text, 'bearmon_check_up{check_id="2",type="tcp"}')).toBe(1);
    expect(value(text, 'bearmon_check_up{check_id="3",type="dns"}')).toBe(0);
    expect(text).not.toMatch(/bearmon_check_up\{check_id="4"/);
    expect(value(text, 'bearmon_check_state{check_id="1",type="http"}')).toBe(0);
    expect(value(text, 'bearmon_check_state{check_id="2",type="tcp"}')).toBe(1);
    expect(value(text, 'bearmon_check_state{check_id="3",type="dns"}')).toBe(2);
    expect(value(text, 'bearmon_check_state{check_id="4",type=""}')).toBe(3);
    expect(value(text, 'bearmon_check_duration_seconds_count{worker="w1",check_id="1"}')).toBe(2);
    expect(value(text, 'bearmon_check_duration_seconds_bucket{le="0.05",worker="w1",check_id="1"}')).toBe(1);
    expect(value(text, 'bearmon_check_duration_seconds_bucket{le="0.25",worker="w1",check_id="1"}')).toBe(2);
    expect(value(text, 'bearmon_check_duration_seconds_sum{worker="w2",check_id="1"}')).toBe(4);
    expect(value(text, 'bearmon_check_duration_seconds_count{worker="w2",check_id="3"}')).toBe(1);

    // Check 3 deleted: its series go, at the next scrape.
    checks = checks.filter((c) => c.id !== 3);
    metrics.source('checks', () => ({ perCheck: checks }));
    text = await scrape(url);
    expect(text).not.toMatch(/check_id="3"/);
    expect(value(text, 'bearmon_check_duration_seconds_count{worker="w1",check_id="1"}')).toBe(2);

    // A partial outage: one series per region seeing it offline; gone when it ends.
    checks = [{ id: 1, type: 'http', state: 'online', status: 'online', partialDown: ['ap', 'eu'] }, ...checks.filter((c) => c.id !== 1)];
    metrics.source('checks', () => ({ perCheck: checks }));
    text = await scrape(url);
    expect(value(text, 'bearmon_check_partial_down{check_id="1",type="http",region="eu"}')).toBe(1);
    expect(value(text, 'bearmon_check_partial_down{check_id="1",type="http",region="ap"}')).toBe(1);
    expect(text.match(/^bearmon_check_partial_down\{/gm)).toHaveLength(2);
    checks = checks.map((c) => (c.id === 1 ? { id: 1, type: 'http', state: 'online', status: 'online' } : c));
    metrics.source('checks', () => ({ perCheck: checks }));
    text = await scrape(url);
    expect(text).not.toMatch(/^bearmon_check_partial_down\{/m);

    // Not the controller any more: no per-check series at all.
    metrics.source('checks', undefined);
    text = await scrape(url);
    expect(text).not.toMatch(/check_id=/);
  });

  it('a worker acting as controller exports them, and writes the history rollups, from a real process', async () => {
    const up = await tcpServer((socket) => socket.end());
    const down = await refusedPort();
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('up', 'tcp', ?, 1, 0), ('down', 'tcp', ?, 1, 0)`, [
      JSON.stringify({ address: `127.0.0.1:${up.port}` }),
      JSON.stringify({ address: `127.0.0.1:${down}` }),
    ]);
    const port = await refusedPort();
    const url = `http://127.0.0.1:${port}/metrics`;
    startBearmon(['worker', '--controller'], {
      BEARMON_NATS_URL: nats.url,
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '1',
      BEARMON_NATS_STREAM: 'BEARMON_CHECK_METRICS',
      BEARMON_WORKER_ID: 'm1',
      BEARMON_DEFAULT_METRICSLISTEN: `127.0.0.1:${port}`,
    });

    await expect.poll(async () => value(await scrape(url), 'bearmon_check_state{check_id="2",type="tcp"}'), { timeout: 20_000, interval: 200 }).toBe(2);
    const text = await scrape(url);
    expect(value(text, 'bearmon_check_up{check_id="1",type="tcp"}')).toBe(1);
    expect(value(text, 'bearmon_check_up{check_id="2",type="tcp"}')).toBe(0);
    expect(value(text, 'bearmon_check_state{check_id="1",type="tcp"}')).toBe(0);
    expect(value(text, 'bearmon_check_duration_seconds_count{worker="m1",check_id="1"}')).toBeGreaterThanOrEqual(1);
    // Only online results have a latency.
    expect(text).not.toMatch(/bearmon_check_duration_seconds_count\{worker="m1",check_id="2"\}/);

    // The controller role writes rollups every few seconds.
    const runs = async () => {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT check_id, SUM(runs) AS runs, SUM(failures) AS failures FROM bearmon_history_hourly GROUP BY check_id ORDER BY check_id');
      return rows.map((r) => ({ checkId: Number(r.check_id), runs: Number(r.runs), failures: Number(r.failures) }));
    };
    await expect.poll(async () => (await runs()).length, { timeout: 20_000, interval: 250 }).toBe(2);
    const [upRow, downRow] = await runs();
    expect(upRow).toMatchObject({ checkId: 1, failures: 0 });
    expect(downRow!.failures).toBe(downRow!.runs);
    expect(value(await scrape(url), 'bearmon_history_rows_written_total')).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('[controller] checkDurations = false: no duration histogram, the per-check state series stay', async () => {
    const up = await tcpServer((socket) => socket.end());
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('up', 'tcp', ?, 1, 0)`, [JSON.stringify({ address: `127.0.0.1:${up.port}` })]);
    const port = await refusedPort();
    const url = `http://127.0.0.1:${port}/metrics`;
    // A server of its own: the stream of the test above still holds the log's subjects.
    const own = await startNatsServer();
    onTestFinished(() => own.stop());
    startBearmon(['worker', '--controller'], {
      BEARMON_NATS_URL: own.url,
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '1',
      BEARMON_CONTROLLER_CHECKDURATIONS: 'false',
      BEARMON_NATS_STREAM: 'BEARMON_CHECK_METRICS_OFF',
      BEARMON_WORKER_ID: 'm2',
      BEARMON_DEFAULT_METRICSLISTEN: `127.0.0.1:${port}`,
    });
    // Online results have been accepted (the history counts them): with the switch on they would have a latency.
    const runs = async () => {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT COALESCE(SUM(runs), 0) AS runs FROM bearmon_history_fine');
      return Number(rows[0]?.runs ?? 0);
    };
    await expect.poll(runs, { timeout: 20_000, interval: 250 }).toBeGreaterThanOrEqual(2);
    const text = await scrape(url);
    expect(value(text, 'bearmon_check_up{check_id="1",type="tcp"}')).toBe(1);
    expect(text).not.toMatch(/bearmon_check_duration_seconds_(count|bucket|sum)\{/);
  }, 60_000);
});
