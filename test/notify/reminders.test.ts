import { describe, expect, it } from 'vitest';
import { headline, mailSubject, smsText, voiceText } from '../../src/contacts/message.ts';
import type { Notification } from '../../src/contacts/types.ts';
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

describe('what reminders and recoveries say', () => {
  const base: Notification = {
    id: 'evt-7-offline/2',
    check: { id: 7, name: 'shop api', type: 'http', data: '{}' },
    status: 'offline',
    message: 'HTTP 503',
    at: new Date(T0),
    workers: ['w1'],
  };

  it('a transition reads as in gobearmon', () => {
    expect([headline(base), mailSubject(base)]).toEqual(['Check [shop api] is now offline: HTTP 503', 'Check offline: shop api']);
    const online = { ...base, status: 'online' as const };
    expect(headline(online)).toBe('Check [shop api] is now online.');
  });

  it('a reminder says the check is still offline, for how long, and which reminder it is', () => {
    const reminder = { ...base, id: 'evt-7-offline:reminder:2/2', at: new Date(T0 + 60 * MIN), offlineSince: new Date(T0), reminder: 2 };
    expect(headline(reminder)).toBe('Check [shop api] is still offline (for 1h, reminder 2): HTTP 503');
    expect(smsText(reminder)).toBe('Check [shop api] is still offline (for 1h, reminder 2): HTTP 503');
    expect(mailSubject(reminder)).toBe('Check still offline: shop api');
    expect(voiceText(reminder)).toBe('This is a monitoring call from bearmon. The check . shop api . is still offline . Reason: HTTP 503');
  });

  it('a recovery says how long the outage lasted', () => {
    const recovery = { ...base, status: 'online' as const, message: 'HTTP 200', at: new Date(T0 + 75 * MIN + 4_000), offlineSince: new Date(T0) };
    expect(headline(recovery)).toBe('Check [shop api] is now online (offline for 1h 15m 4s).');
    expect(mailSubject(recovery)).toBe('Check online: shop api');
  });
});
