import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { applyRecord, emptyLogState, type LogState } from '../../src/controller/log-state.ts';
import { createSnapshotStore, SNAPSHOT_STREAM } from '../../src/controller/snapshot.ts';
import { startStandby } from '../../src/controller/standby.ts';
import type { InputLine } from '../../src/log/lines.ts';
import { asRecords } from '../helpers/log-records.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

async function connection(): Promise<NatsConnection> {
  const nc = await connect(natsOptions([nats.url]));
  onTestFinished(() => nc.close());
  return nc;
}

const t = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}Z`;
const run = (n: number, worker: string, checkId: number, status: string, message: string, at = t(n)) => [
  { type: 'assign', checkId, worker, assignment: `a${n}`, at },
  { type: 'result', checkId, worker, status, at, message, assignment: `a${n}` },
];
// C=2, D=1: check 1 is pending (round 1 done, w3's vote in the next round), with a run of w1 still out;
// check 2 went offline (owed: not yet recorded).
const HISTORY = [
  { type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online' },
  { type: 'check', checkId: 2, interval: 60, delay: 0, status: 'online' },
  ...run(1, 'w1', 1, 'offline', 'refused'),
  ...run(2, 'w2', 1, 'offline', 'refused'),
  ...run(3, 'w3', 1, 'offline', 'refused'),
  { type: 'assign', checkId: 1, worker: 'w1', assignment: 'a9', at: t(4) },
  ...run(5, 'w1', 2, 'offline', 'HTTP 500'),
  ...run(6, 'w2', 2, 'offline', 'HTTP 500'),
];
const FUTURE: InputLine[] = [
  { type: 'result', checkId: 1, worker: 'w1', status: 'offline', at: Date.parse(t(7)), message: 'refused', assignment: 'a9' },
  { type: 'result', checkId: 2, worker: 'w3', status: 'online', at: Date.parse(t(8)), message: 'HTTP 200' },
  { type: 'result', checkId: 2, worker: 'w1', status: 'online', at: Date.parse(t(9)), message: 'HTTP 200' },
];
const VIEWLESS = { viewless: true };

function folded(): LogState {
  const state = emptyLogState(2, VIEWLESS);
  for (const record of asRecords(HISTORY)) applyRecord(state, record);
  return state;
}

describe('log-state snapshots', () => {
  it('round-trip: a fold restored from a snapshot derives exactly what the original does', async () => {
    const nc = await connection();
    const store = createSnapshotStore(nc, 'ctl');
    const stream = { name: 'BEARMON_SNAP_A', created: '2026-01-01T00:00:00.000Z', confirmations: 2, trust: VIEWLESS };
    const original = folded();
    expect(original.owed.size).toBe(1);
    const { bytes } = await store.save(stream, original);
    expect(bytes).toBeGreaterThan(0);
    expect(await store.storedSeq(stream)).toBe(HISTORY.length);

    const { state, reason } = await store.load(stream);
    expect(reason).toBe(`snapshot at seq ${HISTORY.length}`);
    expect(state).not.toBeNull();
    expect(state!.seq).toBe(HISTORY.length);
    expect([...state!.owed.values()]).toEqual([...original.owed.values()]);
    expect(state!.fold.outstandingRuns()).toEqual(original.fold.outstandingRuns());
    expect(state!.fold.contextOf(1)).toEqual(original.fold.contextOf(1));
    for (const line of FUTURE) expect(state!.fold.apply(line)).toEqual(original.fold.apply(line));
  });

  it('refuses a snapshot of another stream, another confirmations setting, or damaged data, saying why', async () => {
    const nc = await connection();
    const store = createSnapshotStore(nc, 'ctl');
    const stream = { name: 'BEARMON_SNAP_B', created: '2026-01-01T00:00:00.000Z', confirmations: 2, trust: VIEWLESS };
    expect((await store.load(stream)).reason).toBe('no snapshot stored');
    await store.save(stream, folded());
    expect(await store.load({ ...stream, created: '2026-02-01T00:00:00.000Z' })).toEqual({ state: null, reason: 'snapshot is of an earlier stream of that name' });
    expect(await store.storedSeq({ ...stream, created: '2026-02-01T00:00:00.000Z' })).toBeNull();
    expect(await store.load({ ...stream, confirmations: 3 })).toEqual({ state: null, reason: 'snapshot was folded with confirmations 2, not 3' });

    // A part overwritten after the index was written (a half-written snapshot): refused.
    const js = jetstream(nc);
    const meta = (await (await jetstreamManager(nc)).streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: 'bearmon.snapshot.ctl.BEARMON_SNAP_B.meta' }))!.json<{ slot: string }>();
    await js.publish(`bearmon.snapshot.ctl.BEARMON_SNAP_B.${meta.slot}.0`, 'not gzip');
    expect((await store.load(stream)).reason).toMatch(/part 0 missing or overwritten/);
    // An index whose digest does not match its parts: refused.
    await store.save(stream, folded());
    const good = (await (await jetstreamManager(nc)).streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: 'bearmon.snapshot.ctl.BEARMON_SNAP_B.meta' }))!.json<Record<string, unknown>>();
    await js.publish('bearmon.snapshot.ctl.BEARMON_SNAP_B.meta', JSON.stringify({ ...good, sha256: '0'.repeat(64) }));
    expect((await store.load(stream)).reason).toMatch(/digest mismatch/);
    await js.publish('bearmon.snapshot.ctl.BEARMON_SNAP_B.meta', '{"version":2}');
    expect((await store.load(stream)).reason).toMatch(/unreadable/);
  });

  it('takes a snapshot only from the controller the view in force named at its position', async () => {
    const nc = await connection();
    const name = 'BEARMON_SNAP_T';
    await ensureResultLog(nc, { stream: name, retentionMs: 3_600_000 });
    onTestFinished(async () => void (await (await jetstreamManager(nc)).streams.delete(name).catch(() => false)));
    const js = jetstream(nc);
    // The log: view 7 names ctl, then ctl's lines.
    for (const record of asRecords(HISTORY, { controller: 'ctl', view: 7 })) await js.publish(record.subject, record.text);
    const created = (await (await jetstreamManager(nc)).streams.info(name)).created;
    const state = emptyLogState(2, { viewless: false });
    for (const record of asRecords(HISTORY, { controller: 'ctl', view: 7 })) applyRecord(state, record);
    expect(state.trust.view()).toEqual({ view: 7, controller: 'ctl', seq: 1 });
    const stream = { name, created, confirmations: 2, trust: { viewless: false } };
    // w1 (a worker the view does not name) stores the same state under its own name: not taken.
    await createSnapshotStore(nc, 'w1').save(stream, state);
    expect(await createSnapshotStore(nc, 'reader').load(stream)).toEqual({ state: null, reason: expect.stringMatching(/^snapshot by w1 not taken: view 7 names ctl/) });
    // A former controller cannot pass off a later image as one of its term: the image must hold what the index says.
    const ahead = { ...state, seq: state.seq + 50 } as typeof state;
    const ctlStore = createSnapshotStore(nc, 'ctl');
    await ctlStore.save(stream, ahead);
    const meta = (await (await jetstreamManager(nc)).streams.getMessage(SNAPSHOT_STREAM, { last_by_subj: `bearmon.snapshot.ctl.${name}.meta` }))!.json<Record<string, unknown>>();
    await js.publish(`bearmon.snapshot.ctl.${name}.meta`, JSON.stringify({ ...meta, seq: HISTORY.length + 1 }));
    expect((await createSnapshotStore(nc, 'reader').load(stream)).reason).toMatch(/snapshot image \(seq \d+\) does not match its index/);
    // ctl's own: taken (the control). The reader looks past w1's newer one to the controller the log names.
    await createSnapshotStore(nc, 'ctl').save(stream, state);
    await createSnapshotStore(nc, 'w1').save(stream, state);
    expect((await createSnapshotStore(nc, 'reader').load(stream)).reason).toBe(`snapshot at seq ${HISTORY.length + 1}`);
  });

  it('a keeper stores snapshots as the log grows; a cold standby starts from it and folds only the rest', async () => {
    const nc = await connection();
    const js = jetstream(nc);
    const name = 'BEARMON_SNAP_C';
    await ensureResultLog(nc, { stream: name, retentionMs: 3_600_000 });
    onTestFinished(async () => void (await (await jetstreamManager(nc)).streams.delete(name).catch(() => false)));
    for (const record of asRecords(HISTORY)) await js.publish(record.subject, record.text);
    const logs = captureLogs();
    const snapshots = createSnapshotStore(nc, 'ctl');
    const keeper = startStandby({ nc, stream: name, confirmations: 2, log: logs.log, snapshots, saveEveryMs: 50, retryMs: 50, trust: VIEWLESS });
    onTestFinished(() => keeper.stop());
    await expect.poll(() => logs.matching(/stored a snapshot of the log state/).at(-1)?.seq, { timeout: 10_000 }).toBe(HISTORY.length);
    await keeper.stop();

    for (const record of asRecords([{ type: 'result', checkId: 1, worker: 'w1', status: 'offline', at: t(7), message: 'refused', assignment: 'a9' }])) await js.publish(record.subject, record.text);
    const cold = startStandby({ nc, stream: name, confirmations: 2, log: logs.log, snapshots, retryMs: 50, trust: VIEWLESS });
    onTestFinished(() => cold.stop());
    // Records count the snapshot's and the one folded after it.
    await expect.poll(() => cold.progress(), { timeout: 10_000 }).toEqual({ seq: HISTORY.length + 1, records: HISTORY.length + 1 });
    expect(logs.matching(/standby starts from a stored snapshot/)).toEqual([expect.objectContaining({ seq: HISTORY.length, checks: 2 })]);
    const state = await cold.handOver();
    // w1's vote completed round 2 of check 1 (D=1): the change the snapshot had pending now happened.
    expect([...state.owed.values()].map((o) => [o.checkId, o.to])).toEqual([
      [2, 'offline'],
      [1, 'offline'],
    ]);
  });
});
