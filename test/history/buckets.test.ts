import { describe, expect, it } from 'vitest';
import {
  addSample,
  bucketStart,
  emptyRollup,
  histogramIndex,
  HISTOGRAM_COLUMNS,
  latencyOf,
  mergeRollups,
  pruneCutoff,
  quantileOf,
  sampleTime,
  type Rollup,
} from '../../src/history/buckets.ts';
import { rebuildRange, SETTLE_MS } from '../../src/history/rebuild.ts';
import { upsertSql } from '../../src/history/store.ts';
import { onlineFraction, stateAt, stateThroughout, utcDays, type StateEvent } from '../../src/history/uptime.ts';
import { parseSince } from '../../src/cli/history.ts';

const T = (iso: string) => Date.parse(iso);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe('bucket math', () => {
  it.each([
    ['2026-03-01T10:07:59.999Z', 'fine', '2026-03-01T10:05:00.000Z'],
    ['2026-03-01T10:05:00.000Z', 'fine', '2026-03-01T10:05:00.000Z'],
    ['2026-03-01T10:04:59.999Z', 'fine', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T10:59:59.999Z', 'hourly', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T00:00:00.000Z', 'hourly', '2026-03-01T00:00:00.000Z'],
    ['1969-12-31T23:59:00.000Z', 'hourly', '1969-12-31T23:00:00.000Z'],
  ] as const)('bucketStart(%s, %s) = %s', (at, resolution, start) => {
    expect(new Date(bucketStart(T(at), resolution)).toISOString()).toBe(start);
  });

  it.each([
    ['fine', '2026-03-03T10:07:00Z', '2026-03-01T10:05:00.000Z'],
    ['hourly', '2026-03-03T10:07:00Z', '2025-01-27T10:00:00.000Z'],
  ] as const)('pruneCutoff(%s) at %s keeps buckets from %s', (resolution, now, cutoff) => {
    expect(new Date(pruneCutoff(T(now), resolution)).toISOString()).toBe(cutoff);
  });

  it.each([
    // [worker's at, received at, filed at]
    ['honest: a little before receipt', 1_000_000 - 150, 1_000_000, 1_000_000 - 150],
    ['a clock 1 s ahead: within the tolerance', 1_001_000, 1_000_000, 1_001_000],
    ['a clock a year ahead: at receipt + tolerance', 1_000_000 + 365 * DAY, 1_000_000, 1_002_000],
    ['a clock an hour behind: at most a run window before receipt', 1_000_000 - HOUR, 1_000_000, 1_000_000 - 60_000],
    ['no time at all', Number.NaN, 1_000_000, 1_000_000],
  ])('sampleTime: %s', (_what, at, receivedAt, filed) => {
    expect(sampleTime(at, receivedAt)).toBe(filed);
  });

  it.each([
    [0, 0],
    [10, 0],
    [11, 1],
    [25, 1],
    [26, 2],
    [100, 3],
    [5000, 8],
    [5001, 9],
    [60_000, 9],
  ])('latency %i ms goes to bucket %i', (ms, index) => {
    expect(histogramIndex(ms)).toBe(index);
  });

  it('has one column per bound and one for the rest', () => {
    expect(HISTOGRAM_COLUMNS).toEqual(['h_10', 'h_25', 'h_50', 'h_100', 'h_250', 'h_500', 'h_1000', 'h_2500', 'h_5000', 'h_inf']);
  });

  it.each([
    ['online with a duration', { status: 'online', durationMs: 12.6 }, 13],
    ['offline: its duration is its timeout, not a latency', { status: 'offline', durationMs: 10_000 }, undefined],
    ['a worker error', { status: 'error', durationMs: 3 }, undefined],
    ['no duration', { status: 'online' }, undefined],
    ['a negative duration', { status: 'online', durationMs: -1 }, undefined],
    ['beyond the column', { status: 'online', durationMs: 1e12 }, 16_777_215],
  ])('latencyOf: %s', (_what, sample, ms) => {
    expect(latencyOf(sample)).toBe(ms);
  });

  it('adds samples into a rollup: runs, failures, errors, latency of online results', () => {
    const r = emptyRollup(7, 'w1', 0);
    for (const s of [
      { status: 'online', durationMs: 20 },
      { status: 'online', durationMs: 180 },
      { status: 'online', durationMs: 7 },
      { status: 'offline', durationMs: 10_000 },
      { status: 'error', durationMs: 1 },
      { status: 'misconfigured' },
    ]) {
      addSample(r, s);
    }
    expect(r).toEqual({
      checkId: 7,
      worker: 'w1',
      bucketStart: 0,
      runs: 6,
      failures: 1,
      errors: 2,
      latencyCount: 3,
      latencySumMs: 207,
      latencyMinMs: 7,
      latencyMaxMs: 180,
      histogram: [1, 1, 0, 0, 1, 0, 0, 0, 0, 0],
    });
  });

  it('merges rollups column by column: two workers of a bucket make what one row of both would hold', () => {
    const a = emptyRollup(1, 'w1', 0);
    const b = emptyRollup(1, 'w2', 0);
    const both = emptyRollup(1, '*', 0);
    const samples = [
      [a, 40],
      [b, 400],
      [a, 3],
      [b, 9000],
    ] as const;
    for (const [r, ms] of samples) {
      addSample(r, { status: 'online', durationMs: ms });
      addSample(both, { status: 'online', durationMs: ms });
    }
    addSample(b, { status: 'offline' });
    addSample(both, { status: 'offline' });
    expect(mergeRollups([a, b], { checkId: 1, worker: '*', bucketStart: 0 })).toEqual(both);
    // An empty side changes nothing (min/max stay those of the other).
    expect(mergeRollups([a, emptyRollup(1, 'w3', 0)], { checkId: 1, worker: 'w1', bucketStart: 0 })).toEqual(a);
  });

  const histogramOf = (latencies: number[]): Rollup => {
    const r = emptyRollup(1, 'w', 0);
    for (const ms of latencies) addSample(r, { status: 'online', durationMs: ms });
    return r;
  };

  it.each([
    ['one value: exact at every quantile', [42], 0.5, 42],
    ['one value: p95', [42], 0.95, 42],
    ['all in one bucket: interpolated between min and max', [60, 70, 80, 90], 0.5, 60 + (90 - 60) * 0.5],
    ['two buckets, median at their edge', [20, 20, 200, 200], 0.5, 25],
    // The rank falls half way into the 2500..5000 bucket, narrowed to the max (3000): within one bucket's width of the true 3000.
    ['p95 of 100 values in two buckets', [...Array(90).fill(30), ...Array(10).fill(3000)], 0.95, 2500 + (3000 - 2500) * 0.5],
    ['overflow bucket narrowed to min and max', [...Array(10).fill(8000), 12_000], 0.95, 8000 + (12_000 - 8000) * ((0.95 * 11) / 11)],
    ['q = 0 is the min', [5, 50, 500], 0, 5],
    ['q = 1 is the max', [5, 50, 500], 1, 500],
  ])('quantileOf: %s', (_what, latencies, q, expected) => {
    const r = histogramOf(latencies);
    expect(quantileOf(r.histogram, q, r.latencyMinMs, r.latencyMaxMs)).toBeCloseTo(expected, 6);
  });

  it('quantiles of merged rollups equal those of one rollup of all the samples', () => {
    const w1 = [12, 30, 31, 70, 400];
    const w2 = [8, 9, 2600, 2700, 90];
    const merged = mergeRollups([histogramOf(w1), histogramOf(w2)], { checkId: 1, worker: 'w', bucketStart: 0 });
    const whole = histogramOf([...w1, ...w2]);
    for (const q of [0.5, 0.95]) expect(quantileOf(merged.histogram, q, merged.latencyMinMs, merged.latencyMaxMs)).toBe(quantileOf(whole.histogram, q, whole.latencyMinMs, whole.latencyMaxMs));
  });

  it('no latency: no quantile; a quantile out of 0..1 is an error naming the value', () => {
    const r = emptyRollup(1, 'w', 0);
    expect(quantileOf(r.histogram, 0.5, null, null)).toBeNull();
    expect(() => quantileOf(r.histogram, 1.5, 1, 2)).toThrow('quantile: expected a number from 0 to 1 (value 1.5)');
  });

  it('the upsert refuses a worker id or check id that could not come from the bus, naming the value', () => {
    expect(() => upsertSql('fine', [emptyRollup(1, "w1'; DROP TABLE checks; --", 0)])).toThrow(/worker: expected a worker id \(value "w1'; DROP/);
    expect(() => upsertSql('fine', [emptyRollup(0, 'w1', 0)])).toThrow('checkId: expected a positive integer (value 0)');
    expect(upsertSql('hourly', [emptyRollup(3, 'w1', T('2026-03-01T10:00:00Z'))])).toContain("(3,'2026-03-01 10:00:00','w1',0,0,0,0,0,NULL,NULL,0,0,0,0,0,0,0,0,0,0)");
  });
});

describe('uptime from transitions', () => {
  const events: StateEvent[] = [
    { at: 100, type: 'offline' },
    { at: 200, type: 'online' },
    { at: 400, type: 'offline' },
  ];

  it.each([
    ['before the first event: the other state than the first', 50, 'online'],
    ['at an event: that event', 100, 'offline'],
    ['between events', 250, 'online'],
    ['after the last', 1000, 'offline'],
  ] as const)('stateAt: %s', (_what, t, state) => {
    expect(stateAt(events, t)).toBe(state);
  });

  it('a check whose first event is "online" was offline before it', () => {
    expect(stateAt([{ at: 100, type: 'online' }], 50)).toBe('offline');
  });

  it.each([
    ['no events: online the whole window', [], undefined, 0, 1000, 1],
    ['an event before the window sets the state at its start', [{ at: 10, type: 'offline' }], undefined, 100, 200, 0],
    ['the last event before the window wins', [{ at: 10, type: 'offline' }, { at: 20, type: 'online' }], undefined, 100, 200, 1],
    ['events before and inside', events, undefined, 150, 450, 200 / 300],
    ['events inside only', events, undefined, 0, 500, (100 + 200) / 500],
    ['clipped to the known life of the check', events, 150, 0, 250, 50 / 100],
    ['clipped to now: the future is not known', [{ at: 500, type: 'offline' }], undefined, 0, 10_000, 500 / 600],
  ] as const)('onlineFraction: %s', (_what, evts, since, from, to, fraction) => {
    expect(onlineFraction({ events: evts as StateEvent[], since }, from, to, 600)).toBeCloseTo(fraction, 10);
  });

  it('onlineFraction: null when nothing of the window is known or past', () => {
    expect(onlineFraction({ events: [], since: 1000 }, 0, 500, 2000)).toBeNull();
    expect(onlineFraction({ events: [] }, 700, 800, 600)).toBeNull();
  });

  it.each([
    [0, 100, 'online'],
    [100, 200, 'offline'],
    [150, 250, 'mixed'],
    [400, 500, 'offline'],
    [401, 500, 'offline'],
  ] as const)('stateThroughout(%i, %i) = %s', (from, to, state) => {
    expect(stateThroughout(events, from, to)).toBe(state);
  });

  it('utcDays: the last n UTC days up to today, oldest first', () => {
    expect(utcDays(3, T('2026-03-01T05:00:00Z')).map((d) => [d.day, new Date(d.from).toISOString()])).toEqual([
      ['2026-02-27', '2026-02-27T00:00:00.000Z'],
      ['2026-02-28', '2026-02-28T00:00:00.000Z'],
      ['2026-03-01', '2026-03-01T00:00:00.000Z'],
    ]);
  });
});

describe('what a rebuild replaces', () => {
  const now = T('2026-03-10T12:30:00Z');

  it('from --since (to the hour) up to buckets settled SETTLE_MS ago; fine ones only where kept', () => {
    const range = rebuildRange({ since: T('2026-03-09T08:20:00Z'), logStart: T('2026-03-01T00:00:00Z'), logComplete: false, now });
    expect(range.hourly).toEqual({ from: T('2026-03-09T08:00:00Z'), to: T('2026-03-10T12:00:00Z') });
    expect(range.fine).toEqual({ from: T('2026-03-09T08:00:00Z'), to: bucketStart(now - SETTLE_MS, 'fine') });
    expect(range.clippedToLog).toBeUndefined();
    const week = rebuildRange({ since: T('2026-03-03T00:00:00Z'), logStart: T('2026-03-01T00:00:00Z'), logComplete: false, now });
    expect(week.fine!.from).toBe(T('2026-03-08T12:30:00Z'));
  });

  it('never before what the log can say: a log that lost records starts a run window after its first', () => {
    const range = rebuildRange({ since: T('2026-03-01T00:00:00Z'), logStart: T('2026-03-10T09:59:30Z'), logComplete: false, now });
    expect(range.hourly).toEqual({ from: T('2026-03-10T11:00:00Z'), to: T('2026-03-10T12:00:00Z') });
    expect(range.clippedToLog).toBe(T('2026-03-10T11:00:00Z'));
    const complete = rebuildRange({ logStart: T('2026-03-10T09:59:30Z'), logComplete: true, now });
    expect(complete.hourly!.from).toBe(T('2026-03-10T09:00:00Z'));
  });

  it('nothing when no bucket has settled since the log can say', () => {
    const range = rebuildRange({ logStart: now - MIN, logComplete: false, now });
    expect(range.hourly).toBeNull();
    expect(range.fine).toBeNull();
    // A log begun this hour that never lost a record: its fine buckets that have settled, no whole hour yet.
    const fresh = rebuildRange({ logStart: now - MIN, logComplete: true, now });
    expect(fresh.hourly).toBeNull();
    expect(fresh.fine).toEqual({ from: T('2026-03-10T12:00:00Z'), to: T('2026-03-10T12:25:00Z') });
  });
});

describe('--since', () => {
  const now = T('2026-03-10T12:00:00Z');
  it.each([
    ['6h', '2026-03-10T06:00:00.000Z'],
    ['7d', '2026-03-03T12:00:00.000Z'],
    ['90m', '2026-03-10T10:30:00.000Z'],
    ['2026-03-01T00:00:00Z', '2026-03-01T00:00:00.000Z'],
    ['2026-03-01T02:00:00+02:00', '2026-03-01T00:00:00.000Z'],
  ])('%s', (value, at) => {
    expect(parseSince(value, now).toISOString()).toBe(at);
  });

  it.each(['yesterday', '6', '-6h', '2026-03-01', '2027-01-01T00:00:00Z'])('refuses %s, naming the option and the value', (value) => {
    expect(() => parseSince(value, now)).toThrow(`--since: expected`);
    expect(() => parseSince(value, now)).toThrow(`(value "${value}")`);
  });
});
