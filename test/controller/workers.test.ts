import { describe, expect, it } from 'vitest';
import { chooseWorker, type WorkerState } from '../../src/controller/workers.ts';

const worker = (id: string, inFlight = 0, capacity = 4): WorkerState => ({ id, capacity, inFlight, lastSeen: 0, startedAt: 0 });

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
