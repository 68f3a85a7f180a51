/**
 * What becomes of a notification held by a maintenance window when the window ends. Pure:
 * the outbox reads the facts in one transaction and writes what this decides.
 */
import type { ActiveWindow } from '../maintenance/windows.ts';

export interface HoldFacts {
  /** What the held notification announces. */
  status: 'online' | 'offline';
  /** The window that held it. */
  heldBy: string;
  /** The check's status now (null: the check row is gone). */
  checkStatus: string | null;
  /** A later transition of the check exists (it changed again, perhaps back and forth). */
  changedSince: boolean;
  /**
   * For an online (recovery) notification: the contact's notification of the outage it ends
   * was held as well (and skipped or still held), so the contact never heard of that outage.
   */
  outageUntold: boolean;
  /** A window covering the check now (the same one extended, or another): keep holding. */
  windowNow: ActiveWindow | null;
  /**
   * A partial-outage notification (its status is only its severity): `over`, the outage
   * ended (or another partial row of the check came since); `startUntold`, for an end, the
   * contact was never told of the start.
   */
  partial?: { phase: 'began' | 'ended'; over: boolean; startUntold: boolean };
}

export type HoldDecision =
  | { result: 'extended'; name: string; until: Date; detail: string }
  | { result: 'released'; detail: string }
  | { result: 'skipped'; detail: string };

/**
 * Still as announced when no window covers it any more: told now (exactly one message,
 * since the row was held, not sent). Changed again meanwhile: nobody is told — a later
 * transition has its own notification if it still matters.
 */
export function holdDecision(f: HoldFacts): HoldDecision {
  if (f.windowNow) return { result: 'extended', name: f.windowNow.name, until: f.windowNow.until, detail: `held: maintenance ${f.windowNow.name} until ${f.windowNow.until.toISOString()}` };
  if (f.checkStatus === null) return { result: 'skipped', detail: `held by maintenance ${f.heldBy}; the check no longer exists when it ended` };
  if (f.partial) return partialHoldDecision(f.partial, f.heldBy);
  if (f.changedSince || f.checkStatus !== f.status) {
    return { result: 'skipped', detail: `held by maintenance ${f.heldBy}; the check changed again before it ended (now ${f.checkStatus}): not sent` };
  }
  if (f.status === 'online' && f.outageUntold) {
    return { result: 'skipped', detail: `held by maintenance ${f.heldBy}; the outage it ends was held too, nobody heard of it: not sent` };
  }
  return { result: 'released', detail: `held by maintenance ${f.heldBy}; still ${f.status} when it ended: sending` };
}

/** A partial outage held by a window: told at its end only if still in progress (a start) or if its start was told (an end). */
function partialHoldDecision(p: NonNullable<HoldFacts['partial']>, heldBy: string): HoldDecision {
  if (p.phase === 'began' && p.over) return { result: 'skipped', detail: `held by maintenance ${heldBy}; the partial outage was over before it ended: not sent` };
  if (p.phase === 'ended' && p.startUntold) return { result: 'skipped', detail: `held by maintenance ${heldBy}; nobody heard of the partial outage it ends: not sent` };
  return { result: 'released', detail: p.phase === 'began' ? `held by maintenance ${heldBy}; still partially down when it ended: sending` : `held by maintenance ${heldBy}; sending` };
}
