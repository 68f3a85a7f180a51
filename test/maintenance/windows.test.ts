import { describe, expect, it } from 'vitest';
import { activeWindow, instantIn, judgeWindow, type MaintenanceWindow } from '../../src/maintenance/windows.ts';
import { holdDecision } from '../../src/notify/hold.ts';

const judged = (input: Parameters<typeof judgeWindow>[0]): MaintenanceWindow => {
  const result = judgeWindow(input);
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('; '));
  return result.window;
};
const at = (iso: string) => new Date(iso);

describe('activeWindow (pure)', () => {
  const once = judged({ name: 'db-upgrade', checkId: 7, kind: 'once', spec: { start: '2026-12-24T22:00', end: '2026-12-25T02:00' }, timeZone: 'Europe/Berlin' });
  const weekly = judged({ name: 'sunday-night', kind: 'weekly', spec: { days: ['sun'], start: '02:00', duration: '2h' }, timeZone: 'America/New_York' });
  const cron = judged({ name: 'backup', checkId: 3, kind: 'cron', spec: { cron: '30 1 * * *', duration: '30m' }, timeZone: 'UTC' });

  it.each([
    // One-off, local times in Berlin (UTC+1 in December): 21:00Z to 01:00Z, check 7 only.
    ['once: before', [once], 7, '2026-12-24T20:59:59Z', null],
    ['once: at its start', [once], 7, '2026-12-24T21:00:00Z', { name: 'db-upgrade', until: '2026-12-25T01:00:00.000Z' }],
    ['once: another check', [once], 8, '2026-12-24T22:00:00Z', null],
    ['once: at its end (ended)', [once], 7, '2026-12-25T01:00:00Z', null],
    // Weekly, Sunday 02:00-04:00 New York (UTC-5 in December): 07:00Z to 09:00Z, every check.
    ['weekly: inside', [weekly], 1, '2026-12-06T08:30:00Z', { name: 'sunday-night', until: '2026-12-06T09:00:00.000Z' }],
    ['weekly: a Saturday', [weekly], 1, '2026-12-05T08:30:00Z', null],
    // ...and UTC-4 in July: the window follows the wall clock.
    ['weekly: summer time', [weekly], 1, '2026-07-05T06:30:00Z', { name: 'sunday-night', until: '2026-07-05T08:00:00.000Z' }],
    ['cron: inside', [cron], 3, '2026-12-06T01:45:00Z', { name: 'backup', until: '2026-12-06T02:00:00.000Z' }],
    ['cron: after', [cron], 3, '2026-12-06T02:00:00Z', null],
    // Two windows: held until the later end.
    ['overlap: the later end', [weekly, judged({ name: 'long', kind: 'once', spec: { start: '2026-12-06T06:00Z', end: '2026-12-06T12:00Z' } })], 1, '2026-12-06T08:00:00Z', { name: 'long', until: '2026-12-06T12:00:00.000Z' }],
    ['disabled', [{ ...weekly, enabled: false }], 1, '2026-12-06T08:30:00Z', null],
  ] as const)('%s', (_name, windows, checkId, now, expected) => {
    const active = activeWindow([...windows] as MaintenanceWindow[], checkId, at(now));
    expect(active && { name: active.name, until: active.until.toISOString() }).toEqual(expected);
  });

  it('reads a local time in the zone, and an instant with an offset as it is', () => {
    expect(instantIn('2026-03-29T03:30', 'Europe/Berlin')?.toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(instantIn('2026-12-06T02:00+05:00', 'Europe/Berlin')?.toISOString()).toBe('2026-12-05T21:00:00.000Z');
    expect(instantIn('2026-02-30T02:00', 'UTC')).toBeNull();
  });
});

describe('judgeWindow: every problem names the field and the value', () => {
  it.each([
    [{ name: 'x', kind: 'cron', spec: { cron: '61 * * * *', duration: '1h' } }, 'cron: expected a cron expression of the start times such as "0 2 * * 0" (minute hour day month weekday) (value "61 * * * *")'],
    [{ name: 'x', kind: 'weekly', spec: { days: ['sun'], start: '02:00', duration: '2h' }, timeZone: 'Mars/Olympus' }, 'timezone: expected an IANA time zone such as Europe/Berlin or UTC (value "Mars/Olympus")'],
    [{ name: 'x', kind: 'once', spec: { start: '2026-12-06T10:00', end: '2026-12-06T09:00' } }, 'end: expected a time after the start 2026-12-06T10:00 (value "2026-12-06T09:00")'],
    [{ name: 'x', kind: 'weekly', spec: { days: ['someday'], start: '02:00', duration: '2h' } }, 'days: expected days of the week such as mon,wed or sat,sun (value ["someday"])'],
    [{ name: 'x', kind: 'cron', spec: { cron: '0 2 * * *', duration: '9d' } }, 'duration: expected a duration of at most 7d such as 90m, 2h, 1d (value "9d")'],
    [{ name: 'x', kind: 'monthly', spec: {} }, 'kind: expected one of once, weekly, cron (value "monthly")'],
  ])('%j', (input, message) => {
    const result = judgeWindow(input);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.map((p) => p.message)).toEqual([message]);
  });
});

describe('holdDecision (pure)', () => {
  const base = { status: 'offline' as const, heldBy: 'w', checkStatus: 'offline', changedSince: false, outageUntold: false, windowNow: null };
  it('still offline at the end: sent', () => expect(holdDecision(base).result).toBe('released'));
  it('back online inside the window: not sent', () => expect(holdDecision({ ...base, checkStatus: 'online' }).result).toBe('skipped'));
  it('offline, online and offline again: only the last is sent', () => expect(holdDecision({ ...base, changedSince: true }).result).toBe('skipped'));
  it('a recovery whose outage was held too: not sent', () => expect(holdDecision({ ...base, status: 'online', checkStatus: 'online', outageUntold: true }).result).toBe('skipped'));
  it('a recovery from an outage the contact heard of: sent', () => expect(holdDecision({ ...base, status: 'online', checkStatus: 'online' }).result).toBe('released'));
  // A partial outage's rows: its status is only its severity; the check's status and changes do not decide it.
  const partial = (phase: 'began' | 'ended', over: boolean, startUntold: boolean) => ({ ...base, checkStatus: 'online', changedSince: true, partial: { phase, over, startUntold } });
  it.each([
    ['a partial outage still in progress at the end: sent', partial('began', false, false), 'released'],
    ['a partial outage over before the end: not sent', partial('began', true, false), 'skipped'],
    ['the end of a partial outage the contact heard of: sent', partial('ended', false, false), 'released'],
    ['the end of a partial outage nobody heard of: not sent', partial('ended', false, true), 'skipped'],
  ] as const)('%s', (_name, facts, result) => expect(holdDecision(facts).result).toBe(result));
  it('another window covers it now: held until that one ends', () =>
    expect(holdDecision({ ...base, windowNow: { name: 'next', start: at('2026-01-01T00:00Z'), until: at('2026-01-01T02:00Z') } })).toMatchObject({ result: 'extended', name: 'next' }));
});
