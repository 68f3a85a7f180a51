import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { ensureResultLog } from '../../src/bus/result-log.ts';
import { subject } from '../../src/bus/subjects.ts';
import { applyRecord, emptyLogState, type LogState } from '../../src/controller/log-state.ts';
import { createSnapshotStore, SNAPSHOT_BUCKET } from '../../src/controller/snapshot.ts';
import { startStandby } from '../../src/controller/standby.ts';
import type { InputLine } from '../../src/log/lines.ts';
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
// C=2, D=1: check 1 is pending (round 1 done, w3's vote in the next round), with a run of w1 still out;
// check 2 went offline (owed: not yet recorded).
const HISTORY = [
  { type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online' },
  { type: 'check', checkId: 2, interval: 60, delay: 0, status: 'online' },
  { type: 'result', checkId: 1, worker: 'w1', status: 'offline', at: t(1), message: 'refused' },
  { type: 'result', checkId: 1, worker: 'w2', status: 'offline', at: t(2), message: 'refused' },
  { type: 'result', checkId: 1, worker: 'w3', status: 'offline', at: t(3), message: 'refused' },
  { type: 'assign', checkId: 1, worker: 'w1', assignment: 'a9', at: t(4) },
  { type: 'result', checkId: 2, worker: 'w1', status: 'offline', at: t(5), message: 'HTTP 500' },
  { type: 'result', checkId: 2, worker: 'w2', status: 'offline', at: t(6), message: 'HTTP 500' },
];
const FUTURE: InputLine[] = [
  { type: 'result', checkId: 1, worker: 'w1', status: 'offline', at: Date.parse(t(7)), message: 'refused', assignment: 'a9' },
  { type: 'result', checkId: 2, worker: 'w3', status: 'online', at: Date.parse(t(8)), message: 'HTTP 200' },
  { type: 'result', checkId: 2, worker: 'w1', status: 'online', at: Date.parse(t(9)), message: 'HTTP 200' },
];

function folded(): LogState {
  const state = emptyLogState(2);
  HISTORY.forEach((line, i) => applyRecord(state, JSON.stringify(line), i + 1));
  return state;
}

describe('log-state snapshots', () => {
  it('round-trip: a fold restored from a snapshot derives exactly what the original does', async () => {
    const nc = await connection();
    const store = createSnapshotStore(nc);
    const stream = { name: 'BEARMON_SNAP_A', created: '2026-01-01T00:00:00.000Z', confirmations: 2 };
    const original = folded();
    expect(original.owed.size).toBe(1);
    const { bytes } = await store.save(stream, original);
    expect(bytes).toBeGreaterThan(0);
    expect(await store.storedSeq(stream)).toBe(8);

    const { state, reason } = await store.load(stream);
    expect(reason).toBe('snapshot at seq 8');
    expect(state).not.toBeNull();
    expect(state!.seq).toBe(8);
    expect([...state!.owed.values()]).toEqual([...original.owed.values()]);
    expect(state!.fold.outstandingRuns()).toEqual(original.fold.outstandingRuns());
    expect(state!.fold.contextOf(1)).toEqual(original.fold.contextOf(1));
    for (const line of FUTURE) expect(state!.fold.apply(line)).toEqual(original.fold.apply(line));
  });

  it('refuses a snapshot of another stream, another confirmations setting, or unreadable data, saying why', async () => {
    const nc = await connection();
    const store = createSnapshotStore(nc);
    const stream = { name: 'BEARMON_SNAP_B', created: '2026-01-01T00:00:00.000Z', confirmations: 2 };
    expect((await store.load(stream)).reason).toBe('no snapshot stored');
    await store.save(stream, folded());
    expect(await store.load({ ...stream, created: '2026-02-01T00:00:00.000Z' })).toEqual({ state: null, reason: 'snapshot is of an earlier stream of that name' });
    expect(await store.storedSeq({ ...stream, created: '2026-02-01T00:00:00.000Z' })).toBeNull();
    expect(await store.load({ ...stream, confirmations: 3 })).toEqual({ state: null, reason: 'snapshot was folded with confirmations 2, not 3' });

    const os = await new Objm(nc).open(SNAPSHOT_BUCKET);
    await os.putBlob({ name: 'log-state.BEARMON_SNAP_B' }, new TextEncoder().encode('not gzip'));
    expect((await store.load(stream)).reason).toMatch(/^snapshot unreadable: /);
    const { gzipSync } = await import('node:zlib');
    await os.putBlob({ name: 'log-state.BEARMON_SNAP_B' }, gzipSync(JSON.stringify({ version: 1, stream: 'x', created: stream.created, confirmations: 2, seq: -1 })));
    expect((await store.load(stream)).reason).toMatch(/^snapshot invalid: seq: /);
  });

  it('a keeper stores snapshots as the log grows; a cold standby starts from it and folds only the rest', async () => {
    const nc = await connection();
    const js = jetstream(nc);
    const name = 'BEARMON_SNAP_C';
    await ensureResultLog(nc, { stream: name, retentionMs: 3_600_000 });
    onTestFinished(async () => void (await (await jetstreamManager(nc)).streams.delete(name).catch(() => false)));
    for (const line of HISTORY) await js.publish(line.type === 'result' ? subject.result(String(line.worker), line.checkId) : subject.check(line.checkId), JSON.stringify(line));
    const logs = captureLogs();
    const snapshots = createSnapshotStore(nc);
    const keeper = startStandby({ nc, stream: name, confirmations: 2, log: logs.log, snapshots, saveEveryMs: 50, retryMs: 50 });
    onTestFinished(() => keeper.stop());
    await expect.poll(() => logs.matching(/stored a snapshot of the log state/).at(-1)?.seq, { timeout: 10_000 }).toBe(8);
    await keeper.stop();

    await js.publish(subject.result('w1', 1), JSON.stringify({ type: 'result', checkId: 1, worker: 'w1', status: 'offline', at: t(7), message: 'refused' }));
    const cold = startStandby({ nc, stream: name, confirmations: 2, log: logs.log, snapshots, retryMs: 50 });
    onTestFinished(() => cold.stop());
    // Records count the snapshot's 8 and the one folded after it.
    await expect.poll(() => cold.progress(), { timeout: 10_000 }).toEqual({ seq: 9, records: 9 });
    expect(logs.matching(/standby starts from a stored snapshot/)).toEqual([expect.objectContaining({ seq: 8, checks: 2 })]);
    const state = await cold.handOver();
    // w1's vote completed round 2 of check 1 (D=1): the change the snapshot had pending now happened.
    expect([...state.owed.values()].map((o) => [o.checkId, o.to])).toEqual([
      [2, 'offline'],
      [1, 'offline'],
    ]);
  });
});
