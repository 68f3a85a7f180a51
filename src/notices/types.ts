import type { ProbeBasis } from '../decide/probe-score.ts';

/**
 * Something the operator (`[smtp] admin`) must hear about: the cluster cannot do its job,
 * or did not do part of it. Each is logged; admitted ones are also mailed (see policy.ts).
 */
export type AdminNotice =
  /** Fewer live workers than a transition needs: no check can change state. */
  | { kind: 'quorum-lost'; alive: number; confirmations: number; quarantined?: string[] }
  /** Enough live workers again (mailed only if the loss was). */
  | { kind: 'quorum-restored'; alive: number }
  /** The controller could not reload checks, contacts and alerts, this many times in a row. */
  | { kind: 'reload-failed'; consecutive: number; error: string }
  /** A notification ended without reaching its contact (all attempts failed, or its outcome is unknown). */
  | {
      kind: 'notification-failed';
      checkId: number;
      checkName: string;
      contactId: number;
      contactType: string;
      notificationId: string;
      attempts: number;
      error: string;
    }
  /** A transition was recorded, but the notifications it owes could not be put in the outbox. */
  | { kind: 'outbox-failed'; checkId: number; transitionKey: string; error: string }
  /** The viewserver has no live candidate to name controller; `previous` is the controller it lost (null: none before). */
  | { kind: 'no-controller'; previous: string | null }
  /** More runs are due than the live workers have free slots for: checks run late, every one in turn. */
  | { kind: 'overloaded'; backlog: number; oldestLateMs: number; capacity: number }
  /** A worker's verdicts contradict the others' too often (a faulty probe); `excluded`: its votes stop counting. */
  | { kind: 'probe-flagged'; worker: string; ratio: number; samples: number; excluded: boolean; basis?: ProbeBasis }
  /** The live workers whose votes count span fewer regions than a check asks for (checks.min_regions): such checks cannot change state. */
  | { kind: 'regions-short'; regions: string[]; needed: number }
  /** Enough regions again (mailed only if the shortfall was). */
  | { kind: 'regions-restored'; regions: string[] }
  /** A flagged worker agrees with the others again. */
  | { kind: 'probe-released'; worker: string; ratio: number; samples: number; excluded: boolean };

export type AdminNoticeKind = AdminNotice['kind'];

/** Every kind, in the order held-back counts are reported. */
export const ADMIN_NOTICE_KINDS: readonly AdminNoticeKind[] = ['quorum-lost', 'quorum-restored', 'reload-failed', 'notification-failed', 'outbox-failed', 'no-controller', 'overloaded', 'regions-short', 'regions-restored', 'probe-flagged', 'probe-released'];
