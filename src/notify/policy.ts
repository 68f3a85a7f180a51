import type { SendOutcome } from '../contacts/types.ts';
import type { AttemptResult } from '../db/outbox.ts';

/** How hard delivery tries ([controller] notifyAttempts, notifyBackoff, notifyBackoffMax, notifyTimeout). */
export interface DeliveryPolicy {
  /** Attempts in all (first send + retries) before a notification finally fails. */
  maxAttempts: number;
  /** Wait before the first retry; doubles per further failure. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Deadline of one attempt. */
  attemptTimeoutMs: number;
}

export type Step =
  | { result: 'delivered'; detail: string }
  | { result: 'retry'; detail: string; nextAttemptAt: number }
  | { result: 'failed'; detail: string };

/** Wait after the `attempt`-th failure: backoff, 2×backoff, 4×backoff … capped. */
export function backoffAfter(attempt: number, policy: DeliveryPolicy): number {
  return Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * What follows attempt number `attempt` (1-based) that ended with `outcome`, at `now`.
 * Pure, like Alertmanager's retry decision: a table test covers every row.
 */
export function nextStep(outcome: SendOutcome, attempt: number, policy: DeliveryPolicy, now: number): Step {
  if (outcome.ok) return { result: 'delivered', detail: outcome.detail };
  if (!outcome.retry) return { result: 'failed', detail: `not retried: ${outcome.error}` };
  if (attempt >= policy.maxAttempts) return { result: 'failed', detail: `gave up after ${attempt} attempt(s): ${outcome.error}` };
  // A vendor that asked for a longer wait (Retry-After) gets it, within the backoff cap.
  const wait = Math.max(backoffAfter(attempt, policy), Math.min(outcome.retryAfterMs ?? 0, policy.backoffMaxMs));
  return { result: 'retry', detail: outcome.error, nextAttemptAt: now + wait };
}

/**
 * An attempt is stale when its claim is older than twice the attempt deadline: the
 * controller that made it would have recorded an outcome by then, so it died or was cut off.
 */
export function staleAfterMs(policy: DeliveryPolicy): number {
  return 2 * policy.attemptTimeoutMs;
}

/**
 * A stale attempt whose send never started sent nothing: it is sent again, whatever the
 * contact (a page lost to a crash is worse than none at all). One whose send started may or
 * may not have reached the contact. Resending it is safe only where the receiver can
 * recognise the repeat (an idempotency key); anything else is ended as 'unconfirmed' rather
 * than risk a second page at 3 a.m.
 */
export function resolveStale(idempotent: boolean, sendStarted: boolean): Extract<AttemptResult, 'retry' | 'unconfirmed'> {
  return idempotent || !sendStarted ? 'retry' : 'unconfirmed';
}
