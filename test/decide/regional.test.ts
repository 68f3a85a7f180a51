import { describe, expect, it } from 'vitest';
import { corroborated, freshness, hasWitness, isPartial, judgeRegions, observe, type Views } from '../../src/decide/regional.ts';
import type { Status } from '../../src/machines/check.ts';

/** Views from [worker, region, status, count, at]. */
function views(rows: [string, string, Status, number, number][]): Views {
  const map: Views = new Map();
  for (const [worker, region, status, count, at] of rows) map.set(worker, { region, status, since: at, count, at });
  return map;
}

const opts = { delay: 1, freshMs: 10_000 };

describe('judgeRegions', () => {
  it.each([
    ['every region agrees: nothing down', [['a1', 'eu', 'online', 3, 100], ['b1', 'us', 'online', 3, 100]], [], ['eu', 'us'], false],
    ['one region offline long enough, another online: partial', [['a1', 'eu', 'offline', 2, 100], ['b1', 'us', 'online', 3, 100]], ['eu'], ['us'], true],
    ['one region offline once only (delay 1 asks two): not yet', [['a1', 'eu', 'offline', 1, 100], ['b1', 'us', 'online', 3, 100]], [], ['us'], false],
    ['two workers of a region add up their results', [['a1', 'eu', 'offline', 1, 100], ['a2', 'eu', 'offline', 1, 100], ['b1', 'us', 'online', 1, 100]], ['eu'], ['us'], true],
    ['a region with one worker agreeing is up, not down', [['a1', 'eu', 'offline', 5, 100], ['a2', 'eu', 'online', 1, 100], ['b1', 'us', 'online', 1, 100]], [], ['eu', 'us'], false],
    ['every region offline: not partial (the rule flips it)', [['a1', 'eu', 'offline', 5, 100], ['b1', 'us', 'offline', 5, 100]], ['eu', 'us'], [], false],
    ['a stale verdict speaks for nobody', [['a1', 'eu', 'offline', 5, 100], ['b1', 'us', 'online', 5, -20_000]], ['eu'], [], false],
  ] as [string, [string, string, Status, number, number][], string[], string[], boolean][])('%s', (_name, rows, down, up, partial) => {
    const judgement = judgeRegions(views(rows), 'online', 100, opts);
    expect({ down: judgement.down, up: judgement.up }).toEqual({ down, up });
    expect(isPartial('online', judgement)).toBe(partial);
  });

  it('an offline check is never partial, and ignored workers do not count', () => {
    const v = views([['a1', 'eu', 'offline', 5, 100], ['b1', 'us', 'online', 5, 100]]);
    expect(isPartial('offline', judgeRegions(v, 'offline', 100, opts))).toBe(false);
    const ignored = judgeRegions(v, 'online', 100, { ...opts, ignore: (w) => w === 'a1' });
    expect({ down: ignored.down, up: ignored.up }).toEqual({ down: [], up: ['us'] });
    // An ignored worker's region is still seen (not unobserved): a stale one is not.
    expect(ignored.seen).toEqual(new Set(['eu', 'us']));
    expect(judgeRegions(v, 'online', 100_000, opts).seen).toEqual(new Set());
  });
});

describe('observe, corroborated, freshness', () => {
  it('counts equal verdicts in a row and restarts on a change', () => {
    const v: Views = new Map();
    observe(v, 'a1', 'eu', 'offline', 1);
    observe(v, 'a1', 'eu', 'offline', 2);
    expect(v.get('a1')).toEqual({ region: 'eu', status: 'offline', since: 1, count: 2, at: 2 });
    observe(v, 'a1', 'eu', 'online', 3);
    expect(v.get('a1')).toEqual({ region: 'eu', status: 'online', since: 3, count: 1, at: 3 });
  });

  it('a vote is corroborated by another fresh worker of its region saying the same', () => {
    const v = views([['a1', 'eu', 'offline', 1, 100], ['a2', 'eu', 'offline', 1, 100], ['b1', 'us', 'offline', 1, 100], ['c1', 'ap', 'online', 1, 100]]);
    expect(corroborated(v, 'a1', 'eu', 'offline', 100, 1000)).toBe(true);
    expect(corroborated(v, 'b1', 'us', 'offline', 100, 1000)).toBe(false);
    expect(corroborated(v, 'a1', 'eu', 'offline', 5000, 1000)).toBe(false);
    expect(freshness(v, 60)).toBe(5 * 60_000);
  });

  it('a witness for an overruled vote: another fresh worker of its region than the voter and the overruler, whatever it said', () => {
    const v = views([['a1', 'eu', 'offline', 1, 100], ['a2', 'eu', 'online', 1, 100], ['a3', 'eu', 'online', 1, 100], ['b1', 'us', 'online', 1, 100]]);
    expect(hasWitness(v, 'a1', 'a2', 'eu', 100, 1000)).toBe(true); // a3
    expect(hasWitness(views([['a1', 'eu', 'offline', 1, 100], ['a2', 'eu', 'online', 1, 100], ['b1', 'us', 'online', 1, 100]]), 'a1', 'a2', 'eu', 100, 1000)).toBe(false); // only the overruler
    expect(hasWitness(v, 'b1', 'a2', 'us', 100, 1000)).toBe(false); // alone in us
    expect(hasWitness(v, 'a1', 'a2', 'eu', 5000, 1000)).toBe(false); // a3's verdict is stale
  });
});
