import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { BIN, runBearmon as bearmon } from '../helpers/bearmon.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { switchableTarget } from './harness.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('a cluster of real worker processes', () => {
  it('monitors a check from MySQL: offline when the target dies, online when it returns; bearmon status tells the truth', async () => {
    const target = await switchableTarget();
    const db = await freshDatabase();
    await migrate(db);
    const conn = await mysql.createConnection(db);
    await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('web', 'http', ?, 1, 1)`, [JSON.stringify({ url: target.url, expect_status: 200 })]);
    await conn.query(`INSERT INTO checks (name, type, data) VALUES ('broken', 'http', '{"url":')`);
    onTestFinished(() => conn.end());
    const env = {
      BEARMON_NATS_URL: nats.url,
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '2',
      BEARMON_NATS_STREAM: 'BEARMON_PROC',
    };
    const processes: ChildProcess[] = ['p1', 'p2', 'p3'].map((id, i) =>
      spawn(BIN, ['worker', ...(i === 0 ? ['--controller'] : [])], {
        // Without a viewserver, the plain workers are told which process is the controller.
        env: { PATH: process.env.PATH!, ...env, BEARMON_WORKER_ID: id, BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}`, ...(i > 0 ? { BEARMON_WORKER_CONTROLLER: 'p1' } : {}) },
        stdio: 'ignore',
      }),
    );
    onTestFinished(async () => {
      for (const child of processes) if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.all(processes.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
    });
    const statusOf = async () => ((await conn.query<RowDataPacket[]>('SELECT status FROM checks WHERE id = 1'))[0][0] as { status: string }).status;
    const events = async () => (await conn.query<RowDataPacket[]>('SELECT type FROM check_events WHERE check_id = 1 ORDER BY id'))[0].map((r) => r.type);

    // Every worker has run the check at least once.
    await expect.poll(() => [...target.hits.keys()].sort(), { timeout: 20_000 }).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const status = await bearmon(['status', '--json'], env);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout);
    expect(parsed).toMatchObject({ controller: 'p1', view: 0, confirmations: 2, quorum: true });
    expect(parsed.workers.map((w: { id: string }) => w.id).sort()).toEqual(['p1', 'p2', 'p3']);
    expect(parsed.checks).toEqual([
      expect.objectContaining({ id: 1, name: 'web', type: 'http', state: 'online' }),
      expect.objectContaining({ id: 2, name: 'broken', state: 'misconfigured', problem: expect.stringMatching(/^data: invalid JSON/) }),
    ]);
    const table = await bearmon(['status'], env);
    expect(table.stdout).toMatch(/^controller p1 \(view 0\) at .*; confirmations 2; quorum ok$/m);
    expect(table.stdout).toMatch(/^ {5}1 {2}web {22}http {7}online {9}next run in /m);
    expect(table.stdout).toMatch(/^ {5}2 {2}broken .* misconfigured {2}data: invalid JSON/m);

    target.up = false;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('offline');
    expect(await events()).toEqual(['offline']);
    target.up = true;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('online');
    expect(await events()).toEqual(['offline', 'online']);

    // Ctrl-C (SIGTERM) stops every process cleanly.
    for (const child of processes) child.kill('SIGTERM');
    const codes = await Promise.all(processes.map(async (child) => (child.exitCode ?? (await once(child, 'exit'))[0]) as number));
    expect(codes).toEqual([0, 0, 0]);
  }, 90_000);
});
