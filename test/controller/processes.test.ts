import { once } from 'node:events';
import { connect } from '@nats-io/transport-node';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { migrate } from '../../src/db/migrate.ts';
import { runBearmon as bearmon, startBearmon, type BearmonProcess } from '../helpers/bearmon.ts';
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
      BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
      BEARMON_CONTROLLER_CONFIRMATIONS: '2',
      BEARMON_NATS_STREAM: 'BEARMON_PROC',
    };
    // Only the set-up (`bearmon setup`: streams and the view's bucket, with the [nats] defaults) is admin's.
    const admin = await connect(natsOptions([nats.url]));
    onTestFinished(() => admin.close());
    await setupBus(admin, { stream: env.BEARMON_NATS_STREAM, retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 });

    // Every process under its own credential from nats.conf: w1 also controls (--controller);
    // without a viewserver, w2 and w3 are told that w1 is the controller.
    const processes: BearmonProcess[] = ['w1', 'w2', 'w3'].map((id, i) =>
      startBearmon(['worker', ...(i === 0 ? ['--controller'] : [])], {
        ...env,
        BEARMON_NATS_URL: nats.urlFor(id),
        BEARMON_WORKER_ID: id,
        BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}`,
        ...(i > 0 ? { BEARMON_WORKER_CONTROLLER: 'w1' } : {}),
      }),
    );
    const operator = { ...env, BEARMON_NATS_URL: nats.urlFor('operator') };
    const statusOf = async () => ((await conn.query<RowDataPacket[]>('SELECT status FROM checks WHERE id = 1'))[0][0] as { status: string }).status;
    const events = async () => (await conn.query<RowDataPacket[]>('SELECT type FROM check_events WHERE check_id = 1 ORDER BY id'))[0].map((r) => r.type);

    // Every worker has run the check at least once: a run every 1 s, rotating over three workers.
    await expect.poll(() => [...target.hits.keys()].sort(), { timeout: 20_000 }).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const status = await bearmon(['status', '--json'], operator);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    const parsed = JSON.parse(status.stdout);
    expect(parsed).toMatchObject({ controller: 'w1', view: 0, confirmations: 2, quorum: true });
    expect(parsed.workers.map((w: { id: string }) => w.id).sort()).toEqual(['w1', 'w2', 'w3']);
    expect(parsed.checks).toEqual([
      expect.objectContaining({ id: 1, name: 'web', type: 'http', state: 'online' }),
      expect.objectContaining({ id: 2, name: 'broken', state: 'misconfigured', problem: expect.stringMatching(/^data: invalid JSON/) }),
    ]);
    const table = await bearmon(['status'], operator);
    expect(table.stdout).toMatch(/^controller w1 \(view 0\) at .*; confirmations 2; quorum ok$/m);
    // The checks table: columns at least two spaces apart, so a row splits on runs of two.
    const rows = table.stdout.split('\n').filter((l) => /^ *\d+ {2}/.test(l)).map((l) => l.trim().split(/ {2,}/));
    expect(rows.map((r) => r.slice(0, 4))).toEqual([
      ['1', 'web', 'http', 'online'],
      ['2', 'broken', '-', 'misconfigured'],
    ]);
    expect(rows[0]![4]).toMatch(/^in \d+m?s$/);
    expect(rows[1]!.slice(4)).toEqual(['-', expect.stringMatching(/^data: invalid JSON/)]);

    target.up = false;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('offline');
    expect(await events()).toEqual(['offline']);
    target.up = true;
    await expect.poll(statusOf, { timeout: 30_000, interval: 250 }).toBe('online');
    expect(await events()).toEqual(['offline', 'online']);

    // Ctrl-C (SIGTERM) stops every process cleanly.
    for (const { child } of processes) child.kill('SIGTERM');
    const codes = await Promise.all(processes.map(async ({ child }) => (child.exitCode ?? (await once(child, 'exit'))[0]) as number));
    expect(codes).toEqual([0, 0, 0]);
    // Nothing went wrong under the roles' rights: the one error logged is the broken row's, and no line speaks of permissions.
    const all = processes.flatMap(({ logs }) => logs);
    expect(all.filter((l) => ['error', 'fatal'].includes(String(l.level)))).toEqual([expect.objectContaining({ worker: 'w1', checkId: 2, msg: expect.stringMatching(/^check 2 \(broken\) is misconfigured/) })]);
    expect(all.filter((l) => /permission/i.test(JSON.stringify(l)))).toEqual([]);
  }, 90_000);
});
