import { once } from 'node:events';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import mysql from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { SNAPSHOT_STREAM } from '../../src/controller/snapshot.ts';
import { migrate } from '../../src/db/migrate.ts';
import { startBearmon, type BearmonProcess } from '../helpers/bearmon.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * README (Snapshots, [controller] snapshotInterval): "every `[controller] snapshotInterval`
 * (1 min; `0s` turns snapshots off) stores it ... in the stream BEARMON_SNAPSHOTS under its
 * own name (`bearmon.snapshot.<worker>.<stream>.meta` and parts)", and a controller
 * restarting cold loads the newest one and folds only the records after it.
 *
 * Two `bearmon worker --controller` processes (role w1), each on its own NATS server and
 * database, run side by side: one with `snapshotInterval = 1s`, one with `0s`. The first is
 * the control for the second: the `0s` one ran at least as long and never stored one.
 */

const STREAM = 'BEARMON';

/** A NATS server set up by admin, a database with one check (interval 1 s), and how to start the controller process on them. */
async function node(snapshotInterval: string) {
  const nats = await startNatsServer();
  onTestFinished(() => nats.stop());
  const admin = await connect(natsOptions([nats.url]));
  onTestFinished(() => admin.close());
  await setupBus(admin, { stream: STREAM, retentionMs: 3_600_000 });
  const db = await freshDatabase();
  await migrate(db);
  const conn = await mysql.createConnection(db);
  const { address } = await tcpServer(() => {});
  await conn.query(`INSERT INTO checks (name, type, data, check_interval, delay) VALUES ('up', 'tcp', ?, 1, 0)`, [JSON.stringify({ address })]);
  await conn.end();
  const env = {
    BEARMON_NATS_URL: nats.urlFor('w1'),
    BEARMON_WORKER_ID: 'w1',
    BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`,
    BEARMON_CONTROLLER_CONFIRMATIONS: '1',
    BEARMON_CONTROLLER_SNAPSHOTINTERVAL: snapshotInterval,
  };
  const jsm = await jetstreamManager(admin);
  return {
    start: () => startBearmon(['worker', '--controller'], env),
    /** The stored snapshot's meta record of w1 for the result log, or null. */
    meta: async () => {
      const stored = await jsm.streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: `bearmon.snapshot.w1.${STREAM}.meta` }).catch(() => null);
      return stored ? (stored.json() as { seq: number }) : null;
    },
    snapshotMessages: async () => (await jsm.streams.info(SNAPSHOT_STREAM)).state.messages,
    logLength: async () => (await jsm.streams.info(STREAM)).state.last_seq,
  };
}

const stored = (p: BearmonProcess) => p.logs.filter((l) => l.msg === 'stored a snapshot of the log state');
const rebuilt = (p: BearmonProcess) => p.logs.find((l) => l.msg === 'rebuilt the check machines from the result log');

async function kill(p: BearmonProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await once(p.child, 'exit');
}

describe('README: [controller] snapshotInterval', () => {
  it('1s stores a snapshot under the worker name every second while the log grows, and a cold restart starts from it; 0s stores none and folds the whole log', async () => {
    const off = await node('0s');
    const on = await node('1s');
    // The 0s process starts first, so it runs at least as long as the 1s one.
    const offProcess = off.start();
    await expect.poll(() => rebuilt(offProcess), { timeout: 30_000, interval: 100 }).toBeDefined();
    const onProcess = on.start();

    // The control: two snapshots in a row, the second holding a later position of the log.
    await expect.poll(() => stored(onProcess).length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    const [firstSave, secondSave] = stored(onProcess) as { seq: number }[];
    expect(secondSave!.seq).toBeGreaterThan(firstSave!.seq);
    expect((await on.meta())!.seq).toBeGreaterThanOrEqual(secondSave!.seq);

    // Meanwhile the 0s process's log grew as much, and nothing was stored.
    expect(await off.logLength()).toBeGreaterThan(firstSave!.seq);
    expect(stored(offProcess)).toEqual([]);
    expect(await off.meta()).toBeNull();
    expect(await off.snapshotMessages()).toBe(0);

    // Cold restarts: the 1s one starts from its snapshot and folds only what came after it.
    await kill(onProcess);
    const snapshotSeq = (await on.meta())!.seq;
    const onAgain = on.start();
    await expect.poll(() => rebuilt(onAgain), { timeout: 30_000, interval: 100 }).toBeDefined();
    expect(onAgain.logs.find((l) => l.msg === 'rebuilding from a stored snapshot')).toMatchObject({ seq: snapshotSeq });
    expect(rebuilt(onAgain)).toMatchObject({ standbySeq: snapshotSeq });
    expect(rebuilt(onAgain)!.records).toBeLessThan(rebuilt(onAgain)!.seq as number);

    // ... the 0s one reads no snapshot at all and folds the whole log.
    await kill(offProcess);
    const offAgain = off.start();
    await expect.poll(() => rebuilt(offAgain), { timeout: 30_000, interval: 100 }).toBeDefined();
    expect(offAgain.logs.some((l) => /snapshot/.test(String(l.msg)))).toBe(false);
    expect(rebuilt(offAgain)).toMatchObject({ standbySeq: 0, standbyRecords: 0 });
    expect(rebuilt(offAgain)!.seq).toBeGreaterThan(0);
  }, 120_000);
});
