import { describe, expect, it } from 'vitest';
import { applyRecord, emptyLogState, partialTransitionOf, RecentResults } from '../../src/controller/log-state.ts';
import { asRecords } from '../helpers/log-records.ts';

const check = { type: 'check', checkId: 1, interval: 60, delay: 0, status: 'online' };
const assign = (n: number, worker: string) => ({ type: 'assign', checkId: 1, worker, assignment: `a${n}`, at: `2026-01-01T00:00:0${n}Z` });
const result = (n: number, worker: string, status: string) => ({ type: 'result', checkId: 1, worker, status, at: `2026-01-01T00:00:0${n}Z`, message: `m${n}`, assignment: `a${n}` });

function fold(lines: (Record<string, unknown> & { type: string } | string)[]) {
  const state = emptyLogState(2, { viewless: true });
  for (const record of asRecords(lines)) applyRecord(state, record);
  return state;
}

describe('log state (what a controller takes over)', () => {
  const outage = [check, assign(1, 'w1'), assign(2, 'w2'), result(1, 'w1', 'offline'), result(2, 'w2', 'offline')];

  it('owes a derived transition, with the deciding message and the confirming workers, until a recorded line names its key', () => {
    const state = fold(outage);
    expect([...state.owed.values()]).toEqual([
      { checkId: 1, to: 'offline', at: new Date('2026-01-01T00:00:02Z'), key: '1:2026-01-01T00:00:02.000Z:offline', message: 'm2', workers: ['w1', 'w2'] },
    ]);
    const recorded = fold([...outage, { type: 'recorded', checkId: 1, key: '1:2026-01-01T00:00:02.000Z:offline' }]);
    expect(recorded.owed.size).toBe(0);
    // A recorded line for another key, or a malformed one, changes nothing.
    expect(fold([...outage, { type: 'recorded', checkId: 1, key: 'other' }, { type: 'recorded', checkId: 1 }]).owed.size).toBe(1);
  });

  it('a recorded transition settles every owed transition of that check no later than it, whatever its key', () => {
    const state = fold(outage);
    // A second check with its own owed transition, later than anything recorded below.
    state.owed.set('2:late', { checkId: 2, to: 'offline', at: new Date('2026-01-01T00:00:09Z'), key: '2:late' });
    state.owed.set('1:late', { checkId: 1, to: 'online', at: new Date('2026-01-01T00:00:09Z'), key: '1:late' });
    // The controller recorded its own (differently derived) transition of check 1 at 00:00:03.
    applyRecord(state, { ...asRecords([{ type: 'recorded', checkId: 1, key: '1:other', transitionAt: '2026-01-01T00:00:03Z' }])[0]!, seq: 99 });
    expect([...state.owed.keys()]).toEqual(['2:late', '1:late']);
  });

  it('knows which derived transitions the log holds no line for (their controller went first), within a tolerance of their time', () => {
    expect(fold(outage).transitions!.missing().map((l) => [l.checkId, l.to, l.at])).toEqual([[1, 'offline', '2026-01-01T00:00:02.000Z']]);
    // The line is in the log (the live controller may date it a little apart): nothing missing.
    const line = { type: 'transition', checkId: 1, from: 'online', to: 'offline', at: '2026-01-01T00:00:03.000Z' };
    expect(fold([...outage, line]).transitions!.missing()).toEqual([]);
    // A line of an older change of the check (back online long before) does not count for this one.
    expect(fold([...outage, { ...line, to: 'online' }]).transitions!.missing()).toHaveLength(1);
    expect(fold([...outage, { ...line, at: '2025-12-31T00:00:00.000Z' }]).transitions!.missing()).toHaveLength(1);
  });

  it('tracks its position, the records applied and the results by sequence', () => {
    const state = fold([...outage, { type: 'pending' }, 'not json']);
    expect(state.seq).toBe(7);
    expect(state.records).toBe(5);
    expect(state.recent.after(4)).toEqual(new Set(['a2/w2']));
    expect(state.recent.after(0)).toEqual(new Set(['a1/w1', 'a2/w2']));
    expect(state.fold.contextOf(1)?.status).toBe('offline');
  });

  it('keeps only the newest results when full', () => {
    const recent = new RecentResults(3);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, `k${seq}`);
    expect(recent.after(0)).toEqual(new Set(['k3', 'k4', 'k5']));
    expect(recent.after(4)).toEqual(new Set(['k5']));
  });
});

describe('partialTransitionOf', () => {
  const line = (phase: 'began' | 'changed' | 'ended', reason?: 'recovered' | 'offline'): Parameters<typeof partialTransitionOf>[0] => ({
    type: 'partial',
    checkId: 7,
    phase,
    down: ['eu'],
    up: ['us'],
    since: '2026-12-01T00:00:01.000Z',
    at: '2026-12-01T00:05:00.000Z',
    ...(reason ? { reason } : {}),
  });

  it('a beginning and an end are records keyed by the outage start; a change of regions is only logged', () => {
    expect(partialTransitionOf(line('began'), 3)).toEqual({
      checkId: 7,
      to: 'offline',
      at: new Date('2026-12-01T00:05:00.000Z'),
      key: `partial:7:${Date.parse('2026-12-01T00:00:01.000Z')}:began`,
      view: 3,
      message: 'offline from eu (online from us)',
      workers: [],
      partial: { phase: 'began', down: ['eu'], up: ['us'] },
    });
    expect(partialTransitionOf(line('changed'))).toBeUndefined();
    expect(partialTransitionOf(line('ended', 'recovered'))).toMatchObject({ to: 'online', key: `partial:7:${Date.parse('2026-12-01T00:00:01.000Z')}:ended`, partial: { phase: 'ended', down: [], up: ['us'] } });
    expect(partialTransitionOf(line('ended', 'offline'))).toMatchObject({ to: 'online', partial: { phase: 'ended', down: ['eu'], up: [] }, message: 'the check itself is offline now (was offline from eu)' });
  });
});
