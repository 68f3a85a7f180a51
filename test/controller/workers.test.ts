import { describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../src/bus/messages.ts';
import { chooseWorker, WorkerTable, type WorkerState } from '../../src/controller/workers.ts';

const worker = (id: string, inFlight = 0, capacity = 4): WorkerState => ({ id, capacity, inFlight, lastSeen: 0, startedAt: 0, region: 'default' });
const beat = (worker: string, place: { region?: string; site?: string } = {}): Heartbeat => ({
  type: 'heartbeat',
  worker,
  capacity: 4,
  running: 0,
  startedAt: '2026-03-01T12:00:00.000Z',
  ...place,
  at: '2026-03-01T12:00:00.000Z',
});

describe('WorkerTable regions', () => {
  it("keeps each worker's region and site from its heartbeats; none named is the default region and no site", () => {
    const table = new WorkerTable(3000);
    expect(table.heartbeat(beat('w1', { region: 'eu-west', site: 'rack7' }), 0)).toBe(false);
    expect(table.heartbeat(beat('w2'), 0)).toBe(false);
    const [w1, w2] = table.alive(0);
    expect(w1).toMatchObject({ id: 'w1', region: 'eu-west', site: 'rack7' });
    expect(w2).toMatchObject({ id: 'w2', region: 'default' });
    expect(w2!.site).toBeUndefined();
  });

  it('says when a known worker comes back with another region, and follows its site', () => {
    const table = new WorkerTable(3000);
    table.heartbeat(beat('w1', { region: 'eu-west', site: 'rack7' }), 0);
    // The same region again, even with another site or none: no change of region.
    expect(table.heartbeat(beat('w1', { region: 'eu-west', site: 'rack8' }), 1000)).toBe(false);
    expect(table.alive(1000)[0]).toMatchObject({ region: 'eu-west', site: 'rack8' });
    expect(table.heartbeat(beat('w1', { region: 'eu-west' }), 2000)).toBe(false);
    expect(table.alive(2000)[0]!.site).toBeUndefined();
    // Another region (also after a silence, before the worker is reaped): changed, once.
    expect(table.heartbeat(beat('w1', { region: 'us-east' }), 9000)).toBe(true);
    expect(table.heartbeat(beat('w1', { region: 'us-east' }), 9500)).toBe(false);
    expect(table.alive(9500)[0]).toMatchObject({ region: 'us-east' });
    // Naming none is the default region: a change from us-east.
    expect(table.heartbeat(beat('w1'), 10_000)).toBe(true);
    expect(table.alive(10_000)[0]!.region).toBe('default');
    // Forgotten once reaped: back in another region, it is new, not changed.
    expect(table.reapDead(20_000)).toEqual(['w1']);
    expect(table.heartbeat(beat('w1', { region: 'ap-south' }), 20_000)).toBe(false);
  });
});

describe('chooseWorker', () => {
  it('rotates one check over every live worker in turn: none starves', () => {
    const alive = ['w1', 'w2', 'w3'].map((id) => worker(id));
    let last: string | undefined;
    const picks: string[] = [];
    for (let cursor = 0; cursor < 9; cursor++) {
      last = chooseWorker(alive, { avoid: last, cursor })!.id;
      picks.push(last);
    }
    expect(picks).toEqual(['w1', 'w2', 'w3', 'w1', 'w2', 'w3', 'w1', 'w2', 'w3']);
  });

  it('skips full and excluded workers, and takes the last one again when it is the only one', () => {
    const alive = [worker('w1'), worker('w2', 4), worker('w3')];
    expect(chooseWorker(alive, { avoid: 'w1', cursor: 0 })!.id).toBe('w3');
    expect(chooseWorker(alive, { avoid: 'w3', cursor: 0 })!.id).toBe('w1');
    expect(chooseWorker([worker('w1')], { avoid: 'w1', cursor: 5 })!.id).toBe('w1');
    expect(chooseWorker(alive, { exclude: new Set(['w1', 'w3']), cursor: 0 })).toBeUndefined();
    expect(chooseWorker(alive, { exclude: new Set(['w1']), cursor: 1 })!.id).toBe('w3');
  });
});
