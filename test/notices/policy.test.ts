import { describe, expect, it } from 'vitest';
import { admitNotice, initialNoticeState, mailFailed, noticeKey, type HeldCounts, type NoticePolicy, type NoticeState } from '../../src/notices/policy.ts';
import type { AdminNotice } from '../../src/notices/types.ts';

const MIN = 60_000;
const policy: NoticePolicy = { intervalMs: 15 * MIN, maxPerWindow: 3 };

const lost: AdminNotice = { kind: 'quorum-lost', alive: 1, confirmations: 2 };
const restored: AdminNotice = { kind: 'quorum-restored', alive: 3 };
const reload: AdminNotice = { kind: 'reload-failed', consecutive: 10, error: 'ECONNREFUSED' };
const noController: AdminNotice = { kind: 'no-controller', previous: 'w1' };
const failed = (contactId: number, checkId = 7): AdminNotice => ({
  kind: 'notification-failed',
  checkId,
  checkName: 'web',
  contactId,
  contactType: 'email',
  notificationId: `n-${checkId}-${contactId}`,
  attempts: 8,
  error: 'SMTP down',
});

/** Feeds the notices in order; each row is [minute, notice]. */
function run(rows: [number, AdminNotice][], p: NoticePolicy = policy, start: NoticeState = initialNoticeState) {
  let state = start;
  return {
    decisions: rows.map(([minute, notice]) => {
      const decision = admitNotice(state, notice, minute * MIN, p);
      state = decision.state;
      return decision.admit ? { admit: true, held: decision.held, heldByKind: decision.heldByKind } : { admit: false, reason: decision.reason };
    }),
    state: () => state,
  };
}

const mailed = (heldByKind: HeldCounts = {}) => ({ admit: true, held: Object.values(heldByKind).reduce((a, b) => a + (b ?? 0), 0), heldByKind });
const held = (reason: string) => ({ admit: false, reason });

describe('noticeKey', () => {
  it.each<[AdminNotice, string]>([
    [lost, 'quorum-lost'],
    [restored, 'quorum-restored'],
    [reload, 'reload-failed'],
    [noController, 'no-controller'],
    [{ kind: 'no-controller', previous: null }, 'no-controller'],
    [failed(3, 7), 'notification-failed:contact=3:check=7'],
  ])('%j → %s', (notice, key) => {
    expect(noticeKey(notice)).toBe(key);
  });
});

describe('admitNotice', () => {
  it.each<[string, [number, AdminNotice][], object[]]>([
    ['the same key twice within the interval: the second is held', [[0, lost], [14, lost]], [mailed(), held('repeat')]],
    ['after the interval the key is mailed again, reporting what was held', [[0, lost], [5, lost], [10, lost], [15, lost]], [mailed(), held('repeat'), held('repeat'), mailed({ 'quorum-lost': 2 })]],
    ['held counts go out with the next mail of any kind', [[0, lost], [1, lost], [2, reload]], [mailed(), held('repeat'), mailed({ 'quorum-lost': 1 })]],
    [
      'notification-failed is per contact and check',
      [[0, failed(1, 7)], [0, failed(2, 7)], [0, failed(1, 8)], [1, failed(1, 7)]],
      [mailed(), mailed(), mailed(), held('repeat')],
    ],
    [
      'at most maxPerWindow mails of any kind per interval',
      [[0, lost], [1, reload], [2, noController], [3, failed(1)], [4, failed(2)], [15, failed(3)], [16, failed(4)]],
      // At 15 the mail of minute 0 left the window, at 16 the one of minute 1.
      [mailed(), mailed(), mailed(), held('cap'), held('cap'), mailed({ 'notification-failed': 2 }), mailed()],
    ],
    ['a restoration without a mailed loss is held', [[0, restored]], [held('loss-not-mailed')]],
    ['a restoration after a mailed loss is mailed', [[0, lost], [3, restored]], [mailed(), mailed()]],
    [
      'a restoration is mailed despite the cap, being bounded by mailed losses',
      [[0, lost], [1, reload], [2, noController], [3, restored]],
      [mailed(), mailed(), mailed(), mailed()],
    ],
    [
      'flapping: the second loss is held within the interval, and so is its restoration',
      [[0, lost], [1, restored], [2, lost], [3, restored], [16, lost], [17, restored]],
      [mailed(), mailed(), held('repeat'), held('loss-not-mailed'), mailed({ 'quorum-lost': 1, 'quorum-restored': 1 }), mailed()],
    ],
    ['a restoration is mailed once per mailed loss', [[0, lost], [1, restored], [2, restored]], [mailed(), mailed(), held('loss-not-mailed')]],
  ])('%s', (_name, rows, expected) => {
    expect(run(rows).decisions).toEqual(expected);
  });

  it('reminds of a loss still open after the interval, and the restoration is still mailed', () => {
    expect(run([[0, lost], [20, lost], [21, restored]]).decisions).toEqual([mailed(), mailed(), mailed()]);
  });

  it('keeps the state bounded: keys and mail times older than the interval are forgotten', () => {
    const { state } = run(Array.from({ length: 100 }, (_, i): [number, AdminNotice] => [i * 16, failed(i)]));
    expect(Object.keys(state().lastMailed)).toEqual(['notification-failed:contact=99:check=7']);
    expect(state().mailedAt).toEqual([99 * 16 * MIN]);
  });

  it('a storm of 50 different failures yields maxPerWindow mails, the rest are counted', () => {
    const { decisions, state } = run(Array.from({ length: 50 }, (_, i): [number, AdminNotice] => [0, failed(i)]), { intervalMs: 15 * MIN, maxPerWindow: 10 });
    expect(decisions.filter((d) => d.admit)).toHaveLength(10);
    expect(state().held).toEqual({ 'notification-failed': 40 });
    expect(admitNotice(state(), lost, 15 * MIN, policy)).toMatchObject({ admit: true, held: 40, heldByKind: { 'notification-failed': 40 }, state: { held: {} } });
  });

  it('does not change the state it is given', () => {
    const before = run([[0, lost], [1, lost]]).state();
    const copy = structuredClone(before);
    admitNotice(before, reload, 2 * MIN, policy);
    admitNotice(before, lost, 3 * MIN, policy);
    expect(before).toEqual(copy);
  });
});

describe('mailFailed', () => {
  it('holds back the notice and the counts its mail carried, for the next mail', () => {
    const { state } = run([[0, lost], [1, lost]]);
    const decision = admitNotice(state(), reload, 2 * MIN, policy);
    expect(decision).toMatchObject({ admit: true, heldByKind: { 'quorum-lost': 1 } });
    const after = mailFailed(decision.state, reload, decision.heldByKind);
    expect(after.held).toEqual({ 'quorum-lost': 1, 'reload-failed': 1 });
    // The failed key is not tried again before the interval is over; a loss stays open.
    expect(admitNotice(after, reload, 3 * MIN, policy)).toMatchObject({ admit: false, reason: 'repeat' });
    expect(admitNotice(after, restored, 3 * MIN, policy)).toMatchObject({ admit: true, heldByKind: { 'quorum-lost': 1, 'reload-failed': 1 } });
  });
});
