import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { serveMetrics } from '../../src/metrics/server.ts';
import { runBearmon, startBearmon } from '../helpers/bearmon.ts';
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

/** One sample's value from Prometheus text, e.g. value(text, 'bearmon_controller_checks{state="offline"}'). */
function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  return response.ok ? response.text() : '';
}

describe('metrics', () => {
  it('a worker acting as controller serves its runs, checks by state, transitions and process metrics at GET /metrics', async () => {
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
      BEARMON_NATS_STREAM: 'BEARMON_METRICS',
      BEARMON_WORKER_ID: 'm1',
      BEARMON_DEFAULT_METRICSLISTEN: `127.0.0.1:${port}`,
    });

    await expect.poll(async () => value(await scrape(url), 'bearmon_controller_transitions_total{to="offline"}'), { timeout: 20_000, interval: 200 }).toBe(1);
    const text = await scrape(url);
    expect(value(text, 'bearmon_controller_checks{state="offline"}')).toBe(1);
    expect(value(text, 'bearmon_controller_checks{state="online"}')).toBe(1);
    expect(value(text, 'bearmon_controller_active')).toBe(1);
    expect(value(text, 'bearmon_controller_quorum')).toBe(1);
    expect(value(text, 'bearmon_controller_workers_alive')).toBe(1);
    expect(value(text, 'bearmon_worker_runs_total{type="tcp",status="online"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'bearmon_worker_runs_total{type="tcp",status="offline"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'bearmon_controller_results_total{outcome="accepted"}')).toBeGreaterThanOrEqual(2);
    expect(value(text, 'bearmon_worker_run_duration_seconds_count{type="tcp"}')).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^bearmon_nodejs_eventloop_lag_seconds \d/m);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  }, 60_000);

  it('refuses to start on a bad metricsListen, naming the key and the value', async () => {
    const result = await runBearmon(['worker'], { BEARMON_DEFAULT_METRICSLISTEN: '127.0.0.1:99999', BEARMON_NATS_URL: nats.url });
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/metricsListen/);
    expect(result.stderr).toMatch(/99999/);
  });

  it('fails to start when the metrics address is taken, saying which', async () => {
    const taken = await tcpServer(() => {});
    const result = await runBearmon(['viewserver'], { BEARMON_DEFAULT_METRICSLISTEN: `127.0.0.1:${taken.port}`, BEARMON_NATS_URL: nats.url });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`cannot serve metrics on 127.0.0.1:${taken.port}`);
  });

  it('a source that is gone or throws reads as zero; a scrape never fails', async () => {
    const metrics = createMetrics();
    metrics.source('controller', () => ({ checks: { online: 3, pending: 1 }, workersAlive: 2, quorum: true, view: 7 }));
    metrics.viewChanged(7, true);
    metrics.notification('email', 'delivered');
    const server = await serveMetrics(metrics.registry, { host: '127.0.0.1', port: 0 }, captureLogs().log);
    onTestFinished(() => server.close());
    const url = `http://${server.address}/metrics`;
    let text = await scrape(url);
    expect(value(text, 'bearmon_controller_checks{state="online"}')).toBe(3);
    expect(value(text, 'bearmon_controller_checks{state="pending"}')).toBe(1);
    expect(value(text, 'bearmon_controller_view')).toBe(7);
    expect(value(text, 'bearmon_viewserver_view')).toBe(7);
    expect(value(text, 'bearmon_notifications_total{contact_type="email",outcome="delivered"}')).toBe(1);
    metrics.source('controller', () => {
      throw new Error('stopping');
    });
    text = await scrape(url);
    expect(value(text, 'bearmon_controller_checks{state="online"}')).toBe(0);
    metrics.source('controller', undefined);
    expect(value(await scrape(url), 'bearmon_controller_active')).toBe(0);
  });
});
