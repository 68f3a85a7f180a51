import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { readLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { startController, type ControllerDeps } from '../../src/controller/controller.ts';
import type { LoadedCheck } from '../../src/db/check-rows.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createStore } from '../../src/db/store.ts';
import type { Transition } from '../../src/db/store.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { replay, type LogRecord } from '../../src/replay/run.ts';
import { captureLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * README (Workers and the controller, Accepting results): "A run not answered within the
 * check's deadline + 3 s ... expires and goes to another worker; its late result is rejected
 * (logged, and recorded in the result log so replay agrees)." And (Metrics):
 * `bearmon_controller_checks{state="misconfigured"}`.
 */

const STREAM = 'BEARMON';
let nats: NatsServerHandle;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect(natsOptions([nats.url]));
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const iso = (ms: number) => new Date(ms).toISOString();
const T0 = Date.parse('2026-06-01T12:00:00.000Z');

/** Every record of the result log, in order. */
async function logRecords(): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  for await (const record of readLog(nc, { stream: STREAM })) records.push(record);
  return records;
}

/** What a replay derives from records (confirmations 1, the controller's setting here). */
async function replayed(records: LogRecord[]): Promise<{ type: string; [key: string]: unknown }[]> {
  async function* source() {
    yield* records;
  }
  const out: string[] = [];
  await replay(source(), { mode: 'ndjson', confirmations: 1 }, { out: (l) => out.push(l), err: () => {} });
  return out.map((l) => JSON.parse(l));
}

async function waitForRecord(match: (payload: Record<string, unknown>, subjectName: string) => boolean): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await expect
    .poll(
      async () => {
        for (const r of await logRecords()) {
          const payload = JSON.parse(r.text) as Record<string, unknown>;
          if (match(payload, r.subject!)) return (found = payload);
        }
        return undefined;
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBeDefined();
  return found!;
}

describe('README: a run not answered within its deadline + 3 s expires, even on a worker that is alive', () => {
  it('expires at exactly deadline + 3 s by the controller clock, is run again, and the late result is rejected, logged, and rejected by replay too', async () => {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => {});
    // The target is never contacted: the worker is the test, which holds the run and answers late.
    const { address } = await tcpServer(() => {});
    const check: LoadedCheck = { id: 1, name: 'slow', type: 'tcp', data: JSON.stringify({ address, expect: 'x', timeout: 5 }), interval: 60, delay: 0, minRegions: 1, status: 'online' };
    const logs = captureLogs();
    const transitions: Transition[] = [];
    // The controller's clock, moved by the test; every read counted (its 10 ms tick reads it once).
    let clock = T0;
    let reads = 0;
    const now = () => (reads++, clock);
    const deps: ControllerDeps = {
      nc,
      id: 'ctl',
      confirmations: 1,
      reloadIntervalMs: 3_600_000,
      store: { loadChecks: async () => ({ checks: [check], misconfigured: [] }) },
      writer: { enqueue: (t) => void transitions.push(t) },
      registry: createCheckRegistry(),
      log: logs.log,
      resultLog: { stream: STREAM, retentionMs: 3_600_000 },
      now,
      tickMs: 10,
      // Alive throughout: its heartbeat would only time out after 10 minutes of this clock.
      workerTimeoutMs: 600_000,
    };
    const runs: { assignment: string; at: string }[] = [];
    const runSub = nc.subscribe(subject.run('fw', 'ctl'), { callback: (_e, m) => void runs.push(m.json()) });
    onTestFinished(() => runSub.unsubscribe());
    const controller = await startController(deps);
    onTestFinished(() => controller.stop());
    nc.publish(subject.worker('fw'), JSON.stringify({ type: 'heartbeat', worker: 'fw', capacity: 1, running: 0, startedAt: iso(T0 - 60_000), at: iso(T0) }));
    await expect.poll(() => controller.status().workers.map((w) => w.id), { timeout: timeoutFor() }).toEqual(['fw']);

    // The first run is due within the first interval.
    clock = T0 + 60_000;
    await expect.poll(() => runs.length, { timeout: timeoutFor() }).toBe(1);
    const first = runs[0]!;
    const assignedAt = Date.parse(first.at);
    const assign = await waitForRecord((p) => p.type === 'assign' && p.assignment === first.assignment);
    // The check's deadline is its timeout (5 s): the assignment's deadline is 3 s later.
    expect(assign).toMatchObject({ worker: 'fw', at: iso(assignedAt), deadline: iso(assignedAt + 5000 + 3000) });

    // One millisecond before: many ticks pass (each reads the clock), and the run stays out.
    clock = assignedAt + 7999;
    const readsBefore = reads;
    await expect.poll(() => reads - readsBefore, { timeout: timeoutFor() }).toBeGreaterThanOrEqual(30);
    expect(logs.matching(/run not answered in time/)).toEqual([]);
    expect(runs).toHaveLength(1);

    // At the deadline + 3 s it expires and is handed out again (fw is the only worker, and alive).
    clock = assignedAt + 8000;
    await expect.poll(() => logs.matching(/run not answered in time: handing it to another worker/).length, { timeout: timeoutFor() }).toBe(1);
    expect(logs.matching(/worker stopped sending heartbeats/)).toEqual([]);
    await waitForRecord((p, s) => p.type === 'expire' && p.assignment === first.assignment && s === subject.assign('ctl', 1));
    await expect.poll(() => runs.length, { timeout: timeoutFor() }).toBe(2);
    expect(runs[1]!.assignment).not.toBe(first.assignment);

    // The worker answers the expired run late: offline, which would flip the check (C=1, delay 0) were it counted.
    clock = assignedAt + 9000;
    await jetstream(nc).publish(
      subject.result('fw', 1),
      JSON.stringify({ type: 'result', checkId: 1, worker: 'fw', assignment: first.assignment, status: 'offline', message: 'late', durationMs: 8900, at: iso(clock), view: 0 }),
    );
    await expect.poll(() => logs.matching(/^result rejected: not an outstanding run/).length, { timeout: timeoutFor() }).toBe(1);
    const rejected = await waitForRecord((p, s) => p.type === 'rejected' && s === subject.decision('ctl', 1));
    expect(rejected).toMatchObject({ checkId: 1, worker: 'fw', assignment: first.assignment, reason: 'not an outstanding run (late, duplicate or expired)' });
    expect(controller.status().checks[0]).toMatchObject({ state: 'online' });
    expect(transitions).toEqual([]);

    // Replay of the log agrees: the late result is rejected there too, and nothing flips.
    const records = await logRecords();
    const derived = await replayed(records);
    expect(derived.filter((l) => l.type === 'rejected').map((l) => l.assignment)).toEqual([first.assignment]);
    expect(derived.filter((l) => l.type === 'transition')).toEqual([]);
    // It is the logged expiry that makes replay agree: without it the late result would count.
    const withoutExpiry = records.filter((r) => JSON.parse(r.text).type !== 'expire');
    expect((await replayed(withoutExpiry)).filter((l) => l.type === 'transition')).toEqual([expect.objectContaining({ checkId: 1, to: 'offline' })]);
  });
});

describe('README: bearmon_controller_checks{state="misconfigured"}', () => {
  it('counts the rows the controller cannot monitor, and follows a reload that fixes one', async () => {
    await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => {});
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    onTestFinished(() => conn.end());
    await conn.query(
      `INSERT INTO checks (id, name, type, data, check_interval) VALUES
        (1, 'good', 'tcp', '{"address":"127.0.0.1:1"}', 60),
        (2, 'bad json', 'tcp', '{"address":', 60),
        (3, 'zero interval', 'tcp', '{"address":"127.0.0.1:1"}', 0),
        (4, 'unknown type', 'gopher', '{}', 60)`,
    );
    const logs = captureLogs();
    const store = createStore({ dsns: [`${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`], log: logs.log, registry: createCheckRegistry() });
    onTestFinished(() => store.close());
    const metrics = createMetrics();
    const controller = await startController({
      nc,
      id: 'ctl',
      confirmations: 1,
      reloadIntervalMs: 3_600_000,
      store,
      writer: { enqueue: () => {} },
      registry: createCheckRegistry(),
      log: logs.log,
      resultLog: { stream: STREAM, retentionMs: 3_600_000 },
      metrics,
    });
    onTestFinished(() => controller.stop());
    const checks = async () => {
      const text = await metrics.registry.metrics();
      return Object.fromEntries(
        ['online', 'offline', 'pending', 'misconfigured'].map((state) => {
          const line = text.split('\n').find((l) => l.startsWith(`bearmon_controller_checks{state="${state}"} `));
          return [state, line === undefined ? undefined : Number(line.split(' ')[1])];
        }),
      );
    };
    expect(await checks()).toEqual({ online: 1, offline: 0, pending: 0, misconfigured: 3 });

    await conn.query(`UPDATE checks SET data = '{"address":"127.0.0.1:2"}' WHERE id = 2`);
    expect(await controller.reload()).toEqual({ checks: 2, misconfigured: 2 });
    expect(await checks()).toEqual({ online: 2, offline: 0, pending: 0, misconfigured: 2 });
  });
});
