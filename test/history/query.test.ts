import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/db/cluster.ts';
import { addSample, emptyRollup, type Rollup } from '../../src/history/buckets.ts';
import { createHistoryQuery } from '../../src/history/query.ts';
import { sqlTime, upsertRollups } from '../../src/history/store.ts';
import { historyDatabase } from './helpers.ts';

const T = (iso: string) => Date.parse(iso);
const D = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

async function insertChecks(cluster: Cluster, ids: number[]): Promise<void> {
  for (const id of ids) {
    await cluster.run((pool) => pool.query(`INSERT INTO checks (id, name, type, data) VALUES (?, ?, 'tcp', '{"address":"127.0.0.1:7"}')`, [id, `c${id}`]));
  }
}

async function insertEvents(cluster: Cluster, events: [checkId: number, type: 'online' | 'offline', at: string][]): Promise<void> {
  for (const [checkId, type, at] of events) await cluster.run((pool) => pool.query('INSERT INTO check_events (check_id, type, time) VALUES (?, ?, ?)', [checkId, type, sqlTime(T(at))]));
}

function rollup(checkId: number, worker: string, start: string, results: { status: string; durationMs?: number }[]): Rollup {
  const r = emptyRollup(checkId, worker, T(start));
  for (const s of results) addSample(r, s);
  return r;
}

const online = (...ms: number[]) => ms.map((durationMs) => ({ status: 'online', durationMs }));
const offline = (n: number) => Array.from({ length: n }, () => ({ status: 'offline', durationMs: 10_000 }));

describe('history queries (real MariaDB)', () => {
  const now = T('2026-03-10T12:00:00Z');

  it('uptime from check_events: events before and inside the window; no events is online; unknown is null', async () => {
    const { cluster } = await historyDatabase();
    await insertChecks(cluster, [1, 2, 3, 4]);
    await insertEvents(cluster, [
      // check 2: offline since before the window, back online 6 h into it.
      [2, 'offline', '2026-03-08T00:00:00Z'],
      [2, 'online', '2026-03-09T06:00:00Z'],
      // check 3: two outages inside the window, 1 h and 3 h.
      [3, 'offline', '2026-03-09T02:00:00Z'],
      [3, 'online', '2026-03-09T03:00:00Z'],
      [3, 'offline', '2026-03-09T20:00:00Z'],
      [3, 'online', '2026-03-09T23:00:00Z'],
      // check 4: an outage that ended before the window.
      [4, 'offline', '2026-03-01T00:00:00Z'],
      [4, 'online', '2026-03-02T00:00:00Z'],
      // check 5: deleted from checks, its events remain.
      [5, 'offline', '2026-03-09T12:00:00Z'],
    ]);
    const query = createHistoryQuery(cluster as Cluster, { now: () => now });
    const day = [D('2026-03-09T00:00:00Z'), D('2026-03-10T00:00:00Z')] as const;
    expect(await query.uptime(1, ...day)).toBe(1);
    expect(await query.uptime(2, ...day)).toBeCloseTo(18 / 24, 12);
    expect(await query.uptime(3, ...day)).toBeCloseTo(20 / 24, 12);
    expect(await query.uptime(4, ...day)).toBe(1);
    // Before its first event the check was in the other state: online until noon.
    expect(await query.uptime(5, ...day)).toBeCloseTo(12 / 24, 12);
    expect(await query.uptime(99, ...day)).toBeNull();
    // The future is not known: clipped to now, and a window wholly after it has no uptime.
    expect(await query.uptime(2, D('2026-03-09T00:00:00Z'), D('2026-03-11T00:00:00Z'))).toBeCloseTo(30 / 36, 12);
    expect(await query.uptime(1, D('2026-03-11T00:00:00Z'), D('2026-03-12T00:00:00Z'))).toBeNull();

    const many = await query.uptimes([1, 2, 3, 99], ...day);
    expect([...many.keys()]).toEqual([1, 2, 3, 99]);
    expect(many.get(1)).toBe(1);
    expect(many.get(2)).toBeCloseTo(18 / 24, 12);
    expect(many.get(3)).toBeCloseTo(20 / 24, 12);
    expect(many.get(99)).toBeNull();
    expect(await query.uptimes([], ...day)).toEqual(new Map());
  });

  it('a check whose history begins inside the window: only the part since its first rollup counts; days before are null', async () => {
    const { cluster } = await historyDatabase();
    await insertChecks(cluster, [7]);
    await upsertRollups(cluster, 'hourly', [rollup(7, 'w1', '2026-03-09T12:00:00Z', online(5))]);
    await insertEvents(cluster, [
      [7, 'offline', '2026-03-09T18:00:00Z'],
      [7, 'online', '2026-03-10T06:00:00Z'],
    ]);
    const query = createHistoryQuery(cluster as Cluster, { now: () => now });
    expect(await query.uptime(7, D('2026-03-01T00:00:00Z'), D('2026-03-10T00:00:00Z'))).toBeCloseTo(6 / 12, 12);
    expect(await query.dailyUptime(7, 4, new Date(now))).toEqual([
      { day: '2026-03-07', uptime: null },
      { day: '2026-03-08', uptime: null },
      { day: '2026-03-09', uptime: 0.5 },
      // Today so far: offline 0-6 h, online 6-12 h.
      { day: '2026-03-10', uptime: 0.5 },
    ]);
    expect(await query.dailyUptime(99, 2, new Date(now))).toEqual([
      { day: '2026-03-09', uptime: null },
      { day: '2026-03-10', uptime: null },
    ]);
  });

  it('latency: per worker points, fine buckets for the last two days and hourly ones before', async () => {
    const { cluster } = await historyDatabase();
    await upsertRollups(cluster, 'fine', [
      rollup(1, 'w1', '2026-03-10T10:00:00Z', [...online(20, 40, 60, 80), ...offline(1)]),
      rollup(1, 'w2', '2026-03-10T10:00:00Z', offline(2)),
      rollup(1, 'w1', '2026-03-10T10:05:00Z', online(300)),
      rollup(2, 'w1', '2026-03-10T10:05:00Z', online(1)),
    ]);
    await upsertRollups(cluster, 'hourly', [rollup(1, 'w1', '2026-03-10T10:00:00Z', [...online(20, 40, 60, 80, 300), ...offline(1)]), rollup(1, 'w3', '2026-03-01T10:00:00Z', online(7000))]);
    const query = createHistoryQuery(cluster as Cluster, { now: () => now });

    const recent = await query.latency(1, D('2026-03-10T10:02:00Z'), D('2026-03-10T11:00:00Z'));
    expect(recent).toEqual([
      // The bucket holding `from` is in: buckets overlapping the range.
      { worker: 'w1', bucketStart: D('2026-03-10T10:00:00Z'), runs: 5, failures: 1, minMs: 20, avgMs: 50, maxMs: 80, p50Ms: 50, p95Ms: 50 + (80 - 50) * (1.8 / 2) },
      { worker: 'w2', bucketStart: D('2026-03-10T10:00:00Z'), runs: 2, failures: 2, minMs: null, avgMs: null, maxMs: null, p50Ms: null, p95Ms: null },
      { worker: 'w1', bucketStart: D('2026-03-10T10:05:00Z'), runs: 1, failures: 0, minMs: 300, avgMs: 300, maxMs: 300, p50Ms: 300, p95Ms: 300 },
    ]);
    const older = await query.latency(1, D('2026-03-01T00:00:00Z'), D('2026-03-10T12:00:00Z'));
    expect(older.map((p) => [p.worker, p.bucketStart.toISOString(), p.runs, p.failures, p.avgMs, p.maxMs])).toEqual([
      ['w3', '2026-03-01T10:00:00.000Z', 1, 0, 7000, 7000],
      ['w1', '2026-03-10T10:00:00.000Z', 6, 1, 100, 300],
    ]);
    expect(await query.latency(3, D('2026-03-10T00:00:00Z'), D('2026-03-10T12:00:00Z'))).toEqual([]);
  });

  it('worker disagreements: failures while online, successes while offline; buckets with a change are left out', async () => {
    const { cluster } = await historyDatabase();
    await insertEvents(cluster, [
      // check 2 offline 02:00-05:30; check 3 offline the whole time.
      [2, 'offline', '2026-03-09T02:00:00Z'],
      [2, 'online', '2026-03-09T05:30:00Z'],
      [3, 'offline', '2026-03-01T00:00:00Z'],
    ]);
    await upsertRollups(cluster, 'hourly', [
      // check 1, online throughout: w1's failures disagree, w2 agrees.
      rollup(1, 'w1', '2026-03-09T01:00:00Z', [...online(10), ...offline(3)]),
      rollup(1, 'w2', '2026-03-09T01:00:00Z', online(10, 10, 10)),
      // check 2: 03:00 offline throughout (w2's success disagrees), 05:00 has the change (left out).
      rollup(2, 'w2', '2026-03-09T03:00:00Z', [...online(10), ...offline(2)]),
      rollup(2, 'w1', '2026-03-09T03:00:00Z', offline(3)),
      rollup(2, 'w1', '2026-03-09T05:00:00Z', [...online(10), ...offline(1)]),
      // check 3, offline throughout: a worker error is neither; an online result disagrees.
      rollup(3, 'w3', '2026-03-09T04:00:00Z', [...online(10, 10), { status: 'error' }, ...offline(1)]),
      // outside the range
      rollup(1, 'w1', '2026-03-09T07:00:00Z', offline(9)),
    ]);
    // Three days later: the range is read from the hourly buckets.
    const query = createHistoryQuery(cluster as Cluster, { now: () => T('2026-03-12T12:00:00Z') });
    const counts = await query.workerDisagreements(D('2026-03-09T00:00:00Z'), D('2026-03-09T06:00:00Z'));
    expect(Object.fromEntries([...counts].sort())).toEqual({ w1: 3, w2: 1, w3: 2 });
    expect(await query.workerDisagreements(D('2026-03-09T10:00:00Z'), D('2026-03-09T11:00:00Z'))).toEqual(new Map());
  });

  it('refuses bad arguments with an error naming the field and the value', async () => {
    const { cluster } = await historyDatabase();
    const query = createHistoryQuery(cluster as Cluster, { now: () => now });
    const from = D('2026-03-09T00:00:00Z');
    const to = D('2026-03-10T00:00:00Z');
    await expect(query.uptime(0, from, to)).rejects.toThrow('checkId: expected a check id, an integer from 1 to 2147483647 (value 0)');
    await expect(query.uptime(1.5, from, to)).rejects.toThrow('(value 1.5)');
    await expect(query.uptime(1, to, from)).rejects.toThrow('to: expected a time after from (2026-03-10T00:00:00.000Z) (value 2026-03-09T00:00:00.000Z)');
    await expect(query.uptime(1, new Date('nope'), to)).rejects.toThrow('from: expected a valid Date (value null)');
    await expect(query.uptimes([1, -2], from, to)).rejects.toThrow('checkIds[1]: expected a check id, an integer from 1 to 2147483647 (value -2)');
    await expect(query.uptimes('1' as unknown as number[], from, to)).rejects.toThrow('checkIds: expected an array of check ids (value "1")');
    await expect(query.latency(1, from, from)).rejects.toThrow('to: expected a time after from');
    await expect(query.dailyUptime(1, 0, to)).rejects.toThrow('days: expected an integer from 1 to 3660 (value 0)');
    await expect(query.dailyUptime(1, 90, 'today' as unknown as Date)).rejects.toThrow('now: expected a valid Date (value "today")');
    await expect(query.workerDisagreements(to, from)).rejects.toThrow('to: expected a time after from');
    // Uptimes of a check that has nothing at all, for the dashboard's list: null, not an error.
    expect((await query.uptimes([123], new Date(now - 24 * HOUR), new Date(now))).get(123)).toBeNull();
  });
});
