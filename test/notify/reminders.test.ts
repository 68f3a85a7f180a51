import { describe, expect, it } from 'vitest';
import { dueReminders, outageDuration, REMIND_MAX_CAP, reminderKey } from '../../src/notify/reminders.ts';

const T0 = Date.parse('2026-12-06T10:00:00Z');
const MIN = 60_000;

describe('dueReminders(now, offlineSince, every, max, alreadyQueued)', () => {
  it.each([
    { name: 'before the first slot', now: T0 + 29 * MIN, every: 30 * MIN, max: 3, queued: 0, due: [] },
    { name: 'at the first slot', now: T0 + 30 * MIN, every: 30 * MIN, max: 3, queued: 0, due: [1] },
    { name: 'first slot already queued', now: T0 + 45 * MIN, every: 30 * MIN, max: 3, queued: 1, due: [] },
    { name: 'second slot', now: T0 + 60 * MIN, every: 30 * MIN, max: 3, queued: 1, due: [2] },
    { name: 'third and last slot', now: T0 + 90 * MIN, every: 30 * MIN, max: 3, queued: 2, due: [3] },
    { name: 'past the last slot', now: T0 + 10 * 60 * MIN, every: 30 * MIN, max: 3, queued: 3, due: [] },
    // A controller down over slots 1 and 2: one reminder (slot 2), not a burst of two.
    { name: 'missed slots collapse into the latest', now: T0 + 65 * MIN, every: 30 * MIN, max: 3, queued: 0, due: [2] },
    { name: 'missed slots never exceed max', now: T0 + 10 * 60 * MIN, every: 30 * MIN, max: 3, queued: 1, due: [3] },
    { name: 'clock behind the outage start', now: T0 - MIN, every: 30 * MIN, max: 3, queued: 0, due: [] },
    { name: 'no interval (NULL → 0)', now: T0 + 90 * MIN, every: 0, max: 3, queued: 0, due: [] },
    { name: 'negative interval', now: T0 + 90 * MIN, every: -MIN, max: 3, queued: 0, due: [] },
    { name: 'no maximum (NULL → 0)', now: T0 + 90 * MIN, every: 30 * MIN, max: 0, queued: 0, due: [] },
    { name: 'interval not a number', now: T0 + 90 * MIN, every: Number.NaN, max: 3, queued: 0, due: [] },
    { name: 'huge maximum is capped', now: T0 + 10_000 * MIN, every: 1 * MIN, max: 1e9, queued: REMIND_MAX_CAP, due: [] },
  ])('$name → $due', ({ now, every, max, queued, due }) => {
    expect(dueReminders(now, T0, every, max, queued)).toEqual(due);
  });
});

describe('reminder keys and outage durations', () => {
  it('names each slot apart from the transition notification of the same contact', () => {
    expect(reminderKey('evt-7-offline', 2, 15)).toBe('evt-7-offline:reminder:2/15');
  });

  it.each([
    [0, '0s'],
    [7_000, '7s'],
    [7_400, '7s'],
    [90_000, '1m 30s'],
    [4_500_000, '1h 15m'],
    [90_061_000, '1d 1h 1m 1s'],
    [-5_000, '0s'],
  ])('%i ms → %s', (ms, text) => {
    expect(outageDuration(ms)).toBe(text);
  });
});
