import { describe, expect, it } from 'vitest';
import { pickConfirmers } from '../../src/controller/pick.ts';
import type { WorkerState } from '../../src/controller/workers.ts';

const worker = (id: string, region: string, inFlight = 0, capacity = 4): WorkerState => ({ id, region, inFlight, capacity, lastSeen: 0, startedAt: 0 });
const alive = [worker('a1', 'eu'), worker('a2', 'eu'), worker('a3', 'eu'), worker('b1', 'us'), worker('c1', 'ap')];
const ids = (ws: WorkerState[]) => ws.map((w) => w.id);

describe('pickConfirmers', () => {
  it('without a region requirement: just enough distinct workers, none already busy', () => {
    const chosen = ids(pickConfirmers(alive, { workers: 2, minRegions: 1, covered: new Set(), busy: new Set(['a1']), cursor: 0 }));
    expect(chosen).toHaveLength(2);
    expect(new Set(chosen).size).toBe(2);
    expect(chosen).not.toContain('a1');
  });

  it('regions not yet heard from come first until the round spans minRegions', () => {
    const chosen = pickConfirmers(alive, { workers: 1, minRegions: 3, covered: new Set(['eu']), busy: new Set(['a1']), cursor: 0 });
    expect(new Set(chosen.map((w) => w.region))).toEqual(new Set(['us', 'ap']));
    expect(chosen).toHaveLength(2);
  });

  it('more workers than regions: the rest may come from any region', () => {
    const chosen = pickConfirmers(alive, { workers: 3, minRegions: 2, covered: new Set(), busy: new Set(), cursor: 0 });
    expect(chosen).toHaveLength(3);
    expect(new Set(chosen.map((w) => w.region)).size).toBeGreaterThanOrEqual(2);
  });

  it('stops when nobody suitable is free (no endless loop), and never picks a full or busy worker', () => {
    const full = [worker('a1', 'eu', 4), worker('b1', 'us', 4), worker('a2', 'eu')];
    expect(ids(pickConfirmers(full, { workers: 1, minRegions: 3, covered: new Set(['eu']), busy: new Set(['a2']), cursor: 0 }))).toEqual([]);
    expect(ids(pickConfirmers(full, { workers: 2, minRegions: 2, covered: new Set(), busy: new Set(), cursor: 0 }))).toEqual(['a2']);
  });

  it('successive suspicions of a check ask the confirmers in turn, whatever the shared cursor does (one worker cannot veto every round)', () => {
    // The controller passes the check's last first confirmer as `avoid`; a cursor that moves in
    // steps of the pool's size would otherwise pick the same worker every time.
    const three = [worker('w1', 'eu'), worker('w2', 'eu'), worker('w3', 'eu')];
    let last: string | undefined;
    const asked: string[] = [];
    for (let round = 0; round < 4; round++) {
      const [first] = pickConfirmers(three, { workers: 1, minRegions: 1, covered: new Set(), busy: new Set(['w1']), avoid: last, cursor: round * 2 });
      asked.push(first!.id);
      last = first!.id;
    }
    expect(asked.slice(1)).toEqual(asked[0] === 'w2' ? ['w3', 'w2', 'w3'] : ['w2', 'w3', 'w2']);
  });
});
