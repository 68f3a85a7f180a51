import { prepareContact, sendNotification, type ContactRegistry } from '../contacts/registry.ts';
import { failed } from '../contacts/outcome.ts';
import type { ContactContext, Notification, SendOutcome } from '../contacts/types.ts';
import type { Claimant, Outbox, OutboxRow } from '../db/outbox.ts';
import { isConnectionError } from '../db/errors.ts';
import type { Logger } from '../log.ts';
import { readPartial } from './partial.ts';
import { nextStep, type DeliveryPolicy, type Step } from './policy.ts';

/** One notification on its way through the stages. */
export interface DeliveryJob {
  row: OutboxRow;
  outcome?: SendOutcome;
  step?: Step;
}

/**
 * Every stage has this one signature (as Alertmanager's notification pipeline does): it
 * takes the job and passes it on, or returns null to end it there. Tests swap single
 * stages, e.g. a record stage that never records, to play a controller dying mid-delivery.
 */
export type Stage = (job: DeliveryJob) => Promise<DeliveryJob | null>;

export function pipeline(stages: readonly Stage[]): Stage {
  return async (job) => {
    let current: DeliveryJob | null = job;
    for (const stage of stages) {
      if (!current) return null;
      current = await stage(current);
    }
    return current;
  };
}

/**
 * The notification as contact types see it; its id is the outbox key, the same on every
 * attempt. A partial column that is not a partial outage throws (the send stage fails the
 * notification with that text): sent as a plain status change it would say something false.
 */
export function notificationOf(row: OutboxRow): Notification {
  const partial = readPartial(row.partial);
  if (!partial.ok) throw new Error(partial.error);
  return {
    id: row.key,
    check: row.check,
    status: row.status,
    message: row.message,
    at: row.transitionAt,
    workers: row.workers,
    ...(row.offlineSince ? { offlineSince: row.offlineSince } : {}),
    ...(row.reminder ? { reminder: row.reminder } : {}),
    ...(partial.partial ? { partial: partial.partial } : {}),
  };
}

/**
 * dedup: a notification is sent only under a claim on its outbox row. A row already
 * delivered, failed, or claimed by another attempt is not sent again; a controller of an
 * older view cannot claim at all (fencing).
 */
export function dedupStage(deps: { outbox: Outbox; who: Claimant; now: () => number }): Stage {
  return async (job) => {
    let claimed: OutboxRow | null;
    try {
      claimed = await deps.outbox.claim(job.row, deps.who, new Date(deps.now()));
    } catch (err) {
      throw new ClaimError(job.row, err);
    }
    return claimed ? { ...job, row: claimed } : null;
  };
}

/**
 * The claim (or the mark of its send start) failed, perhaps after its commit: the row may be
 * left `sending` although nothing was sent.
 */
export class ClaimError extends Error {
  constructor(
    readonly row: OutboxRow,
    override readonly cause: unknown,
    step = 'claim',
  ) {
    super(`${step} of notification ${row.key} failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/**
 * start: records that the send begins, apart from the claim, just before the contact is
 * called. A controller that dies between claim and start sent nothing, and its successor
 * knows it and sends; one that dies after it may have sent, and is judged as before. A claim
 * taken over meanwhile ends the job unsent.
 */
export function startStage(deps: { outbox: Outbox; who: Claimant }): Stage {
  return async (job) => {
    let started: boolean;
    try {
      started = await deps.outbox.startSend(job.row, deps.who);
    } catch (err) {
      // Nothing was sent: the claim is handled like one whose commit went unconfirmed.
      throw new ClaimError(job.row, err, 'send start');
    }
    return started ? { ...job, row: { ...job.row, sendStartedAt: new Date() } } : null;
  };
}

/** send: one attempt through the contact's type, bounded by the attempt deadline. */
export function sendStage(deps: { registry: ContactRegistry; ctx: ContactContext; policy: DeliveryPolicy }): Stage {
  return async (job) => {
    const { row } = job;
    const ctx = { ...deps.ctx, log: deps.ctx.log.child({ checkId: row.check.id, contactId: row.contactId, attempt: row.attempts }) };
    if (!row.contact) return { ...job, outcome: failed(ctx, false, `contact ${row.contactId} does not exist (alert ${row.alertId} names it)`) };
    const prepared = prepareContact(deps.registry, row.contact.type, row.contact.data);
    if (!prepared.ok) return { ...job, outcome: failed(ctx, false, `contact ${row.contactId} (${row.contact.type}): ${prepared.message}`) };
    const idempotent = prepared.contact.idempotent === true;
    let notification: Notification;
    try {
      notification = notificationOf(row);
    } catch (err) {
      return { ...job, outcome: failed(ctx, false, `notification ${row.key}: ${(err as Error).message}`) };
    }
    const outcome = await withDeadline(sendNotification(prepared, notification, ctx), deps.policy.attemptTimeoutMs, () =>
      // Past the deadline the send may still complete: only an idempotent contact may try again.
      failed(ctx, idempotent, `no outcome within ${deps.policy.attemptTimeoutMs} ms; it may have been delivered`),
    );
    return { ...job, outcome };
  };
}

/** retry: decides delivered / retry later (with backoff) / failed for good. */
export function retryStage(deps: { policy: DeliveryPolicy; now: () => number }): Stage {
  return async (job) => (job.outcome ? { ...job, step: nextStep(job.outcome, job.row.attempts, deps.policy, deps.now()) } : null);
}

/** What the record stage reports besides the database: the log event and, on final failure, the admin. */
export interface DeliveryReport {
  row: OutboxRow;
  step: Step;
  at: number;
}

/**
 * record: writes the attempt's outcome (and a Twilio charge) to the outbox in one
 * transaction, then reports it. A claim taken over meanwhile (the attempt was judged
 * stale) records nothing, but what happened is still reported.
 */
export function recordStage(deps: {
  outbox: Outbox;
  now: () => number;
  log: Logger;
  report: (r: DeliveryReport) => void;
  /** Waits between tries of a record that lost its connection (default 1 s, 2 s, 4 s, 8 s). */
  retryDelaysMs?: readonly number[];
}): Stage {
  const delays = deps.retryDelaysMs ?? [1000, 2000, 4000, 8000];
  return async (job) => {
    const { row, step, outcome } = job;
    if (!step) return null;
    const at = deps.now();
    const charge = outcome?.ok ? outcome.charge : undefined;
    const nextAttemptAt = step.result === 'retry' ? new Date(step.nextAttemptAt) : undefined;
    const fields = { checkId: row.check.id, contactId: row.contactId, notification: row.key, attempt: row.attempts };
    // The send happened: its outcome (and a charge) is worth a few tries through a MySQL hiccup.
    for (let tried = 0; ; tried++) {
      try {
        const recorded = await deps.outbox.record(row, { result: step.result, detail: step.detail, nextAttemptAt, charge, at: new Date(at) });
        // Taken over meanwhile (judged stale): the successor reported it; saying it again would contradict the outbox.
        if (!recorded) deps.log.warn({ ...fields, outcome: step.result }, 'attempt outcome not recorded: the attempt was taken over meanwhile');
        else deps.report({ row, step, at });
        return job;
      } catch (err) {
        if (!isConnectionError(err) || tried >= delays.length) throw err;
        deps.log.warn({ ...fields, error: (err as Error).message }, 'could not record an attempt outcome; trying again');
        await new Promise((resolve) => setTimeout(resolve, delays[tried]));
      }
    }
  };
}

function withDeadline<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(late()), ms)));
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
