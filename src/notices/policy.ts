import { ADMIN_NOTICE_KINDS, type AdminNotice, type AdminNoticeKind } from './types.ts';

/**
 * The rate limit of admin mails, so an outage is a few mails and not a storm (like
 * Alertmanager's repeat interval): a pure function of the state, the notice and the time.
 *
 * - A notice's key is its kind plus what it is about (notification-failed: per contact and
 *   check; the others are about the whole cluster). One key is mailed at most once per
 *   `intervalMs`.
 * - At most `maxPerWindow` mails of any kind go out within any `intervalMs`.
 * - A notice not mailed is counted per kind; the next mail that goes out reports the counts.
 * - A recovery (quorum-restored) is mailed only when its loss was mailed, and then always
 *   (it is bounded by the losses mailed): whoever was told of the loss hears it is over.
 */
export interface NoticePolicy {
  intervalMs: number;
  maxPerWindow: number;
}

export const DEFAULT_MAX_PER_WINDOW = 10;

export type HeldCounts = Readonly<Partial<Record<AdminNoticeKind, number>>>;

export interface NoticeState {
  /** When each key was last mailed; only keys mailed within the last interval. */
  readonly lastMailed: Readonly<Record<string, number>>;
  /** Times of the mails within the last interval, oldest first. */
  readonly mailedAt: readonly number[];
  /** Notices not mailed since the last mail, per kind. */
  readonly held: HeldCounts;
  /** Keys of losses mailed and not yet followed by a mailed recovery. */
  readonly openLosses: readonly string[];
}

export const initialNoticeState: NoticeState = { lastMailed: {}, mailedAt: [], held: {}, openLosses: [] };

export type HoldReason = 'repeat' | 'cap' | 'loss-not-mailed';

export type NoticeDecision =
  /** Mail it, with `heldByKind` (`held` in all) reported as held back since the last mail. */
  | { admit: true; state: NoticeState; held: number; heldByKind: HeldCounts }
  /** Counted in `state.held` for the next mail. */
  | { admit: false; state: NoticeState; held: 0; heldByKind: HeldCounts; reason: HoldReason };

/** Recovery kind → the loss kind it ends. */
const LOSS_OF: Partial<Record<AdminNoticeKind, AdminNoticeKind>> = { 'quorum-restored': 'quorum-lost', 'regions-restored': 'regions-short' };

/** What a notice is about: the same key is mailed at most once per interval. */
export function noticeKey(notice: AdminNotice): string {
  if (notice.kind === 'notification-failed') return `notification-failed:contact=${notice.contactId}:check=${notice.checkId}`;
  if (notice.kind === 'probe-flagged' || notice.kind === 'probe-released') return `${notice.kind}:worker=${notice.worker}`;
  return notice.kind;
}

export function admitNotice(state: NoticeState, notice: AdminNotice, now: number, policy: NoticePolicy): NoticeDecision {
  const recent = withinInterval(state, now, policy.intervalMs);
  const key = noticeKey(notice);
  const loss = LOSS_OF[notice.kind];
  if (loss !== undefined) {
    if (!recent.openLosses.includes(loss)) return hold(recent, notice, 'loss-not-mailed');
    return admit({ ...recent, openLosses: recent.openLosses.filter((k) => k !== loss) }, key, now);
  }
  if (recent.lastMailed[key] !== undefined) return hold(recent, notice, 'repeat');
  if (recent.mailedAt.length >= policy.maxPerWindow) return hold(recent, notice, 'cap');
  const isLoss = Object.values(LOSS_OF).includes(notice.kind) && !recent.openLosses.includes(key);
  return admit(isLoss ? { ...recent, openLosses: [...recent.openLosses, key] } : recent, key, now);
}

/**
 * An admitted mail that could not be sent: its notice and the counts it carried are held
 * back again, so the next mail reports them. The key keeps its time, so a dead SMTP server
 * is not tried again for the same key before the interval is over; a loss stays open, so
 * its recovery is still mailed (and tells the admin what happened, with the held counts).
 */
export function mailFailed(state: NoticeState, notice: AdminNotice, heldByKind: HeldCounts): NoticeState {
  return { ...state, held: addCounts(addCounts(state.held, heldByKind), { [notice.kind]: 1 }) };
}

/** Total of all counts. */
export function heldTotal(counts: HeldCounts): number {
  return ADMIN_NOTICE_KINDS.reduce((sum, kind) => sum + (counts[kind] ?? 0), 0);
}

/** Forgets mails older than the interval (keeps the state bounded). */
function withinInterval(state: NoticeState, now: number, intervalMs: number): NoticeState {
  const recent = (at: number) => now - at < intervalMs;
  const lastMailed = Object.fromEntries(Object.entries(state.lastMailed).filter(([, at]) => recent(at)));
  return { ...state, lastMailed, mailedAt: state.mailedAt.filter(recent) };
}

function admit(state: NoticeState, key: string, now: number): NoticeDecision {
  const heldByKind = state.held;
  return {
    admit: true,
    state: { ...state, lastMailed: { ...state.lastMailed, [key]: now }, mailedAt: [...state.mailedAt, now], held: {} },
    held: heldTotal(heldByKind),
    heldByKind,
  };
}

function hold(state: NoticeState, notice: AdminNotice, reason: HoldReason): NoticeDecision {
  return { admit: false, state: { ...state, held: addCounts(state.held, { [notice.kind]: 1 }) }, held: 0, heldByKind: {}, reason };
}

function addCounts(a: HeldCounts, b: HeldCounts): HeldCounts {
  const sum: Partial<Record<AdminNoticeKind, number>> = {};
  for (const kind of ADMIN_NOTICE_KINDS) {
    const n = (a[kind] ?? 0) + (b[kind] ?? 0);
    if (n > 0) sum[kind] = n;
  }
  return sum;
}
