import type { StormOutbox } from '../db/storm-outbox.ts';
import { deliverGroup } from './storm-delivery.ts';
import { groupKeyOf, stormGroup, stormOn, type StormPolicy } from './storm.ts';
import type { HeldOutbox } from '../db/maintenance-outbox.ts';
import type { HoldDecision } from './hold.ts';
import type { ContactRegistry } from '../contacts/registry.ts';
import type { ContactContext } from '../contacts/types.ts';
import type { Claimant, Outbox, OutboxRow } from '../db/outbox.ts';
import { errorMessage, FencedError, isConnectionError } from '../db/errors.ts';
import type { Logger } from '../log.ts';
import type { AdminNotice } from '../notices/types.ts';
import { noMetrics, type Metrics } from '../metrics/metrics.ts';
import { resolveStale, staleAfterMs, type DeliveryPolicy, type Step } from './policy.ts';
import type { ReminderStore } from '../db/reminders.ts';
import { dueReminders } from './reminders.ts';
import { ClaimError, dedupStage, pipeline, recordStage, retryStage, sendStage, startStage, type DeliveryReport, type Stage } from './stages.ts';

/** The admin notice of a notification that finally failed (or may not have arrived). */
export type NotificationFailedNotice = Extract<AdminNotice, { kind: 'notification-failed' }>;

/** A `bearmon.notify.<check>` event: one per attempt outcome, kept in the result log. */
export interface NotifyEvent {
  type: 'notify';
  checkId: number;
  notification: string;
  transition: string;
  contact: number;
  contactType: string;
  attempt: number;
  /** held / released / skipped / extended: a maintenance window's hold (src/notify/hold.ts). */
  outcome: Step['result'] | 'unconfirmed' | 'resend' | 'held' | HoldDecision['result'];
  message: string;
  at: string;
  view: number;
  controller: string;
  nextAttemptAt?: string;
  /** The grouped (storm) message that carried this notification, and how many it carried. */
  carriedBy?: string;
  carried?: number;
}

export interface DeliveryDeps {
  outbox: Outbox;
  registry: ContactRegistry;
  ctx: ContactContext;
  policy: DeliveryPolicy;
  who: Claimant;
  log: Logger;
  /** Publishes a notify event to the result log (bearmon.notify.<check>). */
  publish: (event: NotifyEvent) => void;
  notice: (notice: NotificationFailedNotice) => void;
  now?: () => number;
  /** Safety-net poll while idle (rows added by another process, clock jumps). Default 5 s. */
  pollMs?: number;
  /** Attempts in flight at once. Default 8. */
  concurrency?: number;
  metrics?: Metrics;
  /** Replaces single stages (fault injection in tests), as XState's .provide() swaps actions. */
  stages?: Partial<Record<'dedup' | 'start' | 'send' | 'retry' | 'record', Stage>>;
  /** Offline reminders (alerts.remind_every/remind_max): queued as outbox rows when their slot comes. */
  reminders?: ReminderStore;
  /**
   * Least time between two looks for due reminders. Default 10 s: the look joins over the
   * outbox (no index serves it), and reminders are at least a minute apart.
   */
  reminderScanMs?: number;
  /** Notifications held by maintenance windows: announced in the log, decided at the window's end. */
  held?: HeldOutbox;
  /** Storm grouping ([controller] stormWindow, stormThreshold) and the outbox side of it. */
  storm?: { policy: StormPolicy; outbox: StormOutbox };
}

export interface Delivery {
  /** Look for due notifications now (a transition with notifications was just recorded). */
  wake(): void;
  /** Resolves once nothing is in flight and no sweep runs. */
  idle(): Promise<void>;
  /** Finishes attempts in flight (their outcomes are recorded) and stops. */
  stop(): Promise<void>;
}

/**
 * The delivery actor of the controller: sweeps the outbox for due notifications and runs
 * each through dedup → send → retry → record. Durable state lives in MySQL only, so a
 * successor controller continues where this one stopped.
 */
export function startDelivery(deps: DeliveryDeps): Delivery {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ role: 'delivery', worker: deps.who.controller, view: deps.who.view });
  const concurrency = deps.concurrency ?? 8;
  const pollMs = deps.pollMs ?? 5000;
  const iso = (ms: number) => new Date(ms).toISOString();

  const metrics = deps.metrics ?? noMetrics;
  const report = ({ row, step, at }: DeliveryReport) => {
    metrics.notification(row.contact?.type ?? '(missing)', step.result);
    deps.publish({
      ...eventBase(row, deps.who, at),
      outcome: step.result,
      message: step.detail,
      ...(step.result === 'retry' ? { nextAttemptAt: iso(step.nextAttemptAt) } : {}),
    });
    if (step.result === 'failed') deps.notice(failureNotice(row, step.detail));
  };

  const stages = deps.stages ?? {};
  const run = pipeline([
    stages.dedup ?? dedupStage({ outbox: deps.outbox, who: deps.who, now }),
    stages.start ?? startStage({ outbox: deps.outbox, who: deps.who }),
    stages.send ?? sendStage({ registry: deps.registry, ctx: deps.ctx, policy: deps.policy }),
    stages.retry ?? retryStage({ policy: deps.policy, now }),
    stages.record ?? recordStage({ outbox: deps.outbox, now, log, report }),
  ]);

  const inFlight = new Map<number, Promise<void>>();
  const unconfirmedClaims = new Map<number, OutboxRow>();
  let sweeping: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let unreachableSince: number | null = null;

  function wake(): void {
    if (stopped) return;
    if (sweeping) {
      again = true;
      return;
    }
    clearTimeout(timer);
    sweeping = sweep()
      .catch((err) => onSweepError(err))
      .finally(() => {
        sweeping = null;
        if (stopped) return;
        if (again) {
          again = false;
          wake();
        }
      });
  }

  async function sweep(): Promise<void> {
    await releaseUnconfirmedClaims();
    await resolveStaleAttempts();
    await queueReminders();
    await settleHeld();
    const free = concurrency - inFlight.size;
    if (free > 0) {
      const due = await deps.outbox.due(new Date(now()), free + inFlight.size);
      // Stopped meanwhile (stop(), or fenced by a job that just failed): start nothing more.
      for (const row of due) if (!stopped && !inFlight.has(row.id) && inFlight.size < concurrency) await startOrGroup(row);
    }
    endOutage();
    await scheduleNext();
  }

  /**
   * A row of a storm goes with the others of its contact as one message: a first attempt
   * with at least stormThreshold first attempts of the same contact within stormWindow of
   * its transition, or a retry of a grouped message. Anything else goes on its own, as do
   * reminders and partial outages (issue 17), which a list of status changes cannot say.
   */
  async function startOrGroup(row: OutboxRow): Promise<void> {
    const storm = deps.storm;
    if (!storm) return start(row);
    let members: OutboxRow[] | null = null;
    if (row.groupKey !== null) members = await storm.outbox.pendingOfGroup(row.groupKey);
    else if (stormOn(storm.policy) && row.attempts === 0 && row.reminder === null && row.partial === null) {
      const until = new Date(row.transitionAt.getTime() + storm.policy.windowMs);
      members = stormGroup(row, await storm.outbox.candidates(row.contactId, row.transitionAt, until, 10_000), storm.policy);
    }
    if (!members || members.length === 0) return start(row);
    if (stopped || members.some((m) => inFlight.has(m.id))) return;
    const key = row.groupKey ?? groupKeyOf(members);
    const job = deliverGroup({ ...deps, storm: storm.outbox, now, log, report: reportGroup }, members, key)
      .catch((err) => onGroupError(key, err))
      .finally(() => {
        for (const m of members) inFlight.delete(m.id);
        if (!stopped) wake();
      });
    for (const m of members) inFlight.set(m.id, job);
  }

  /** One attempt of a grouped message: an event per row it carried (so each transition shows its message), one notice. */
  function reportGroup({ row, step, at }: DeliveryReport, carried: readonly OutboxRow[]): void {
    metrics.notification(row.contact?.type ?? '(missing)', step.result);
    for (const member of carried) {
      deps.publish({
        ...eventBase(member, deps.who, at),
        outcome: step.result,
        message: step.detail,
        carriedBy: row.key,
        carried: carried.length,
        ...(step.result === 'retry' ? { nextAttemptAt: iso(step.nextAttemptAt) } : {}),
      });
    }
    if (step.result === 'failed') deps.notice(failureNotice(row, step.detail));
  }

  function onGroupError(key: string, err: unknown): void {
    if (err instanceof ClaimError && err.cause instanceof FencedError) err = err.cause;
    if (err instanceof FencedError) {
      log.error({ notification: key, error: err.message }, 'a newer controller has taken over: this one delivers nothing more');
      stopped = true;
      return;
    }
    // A claim that may have committed is judged stale later: nothing was sent, so it is sent again.
    log.error({ notification: key, error: errorMessage(err) }, 'grouped delivery step failed; the outbox keeps the notifications');
  }

  function start(row: OutboxRow): void {
    const job = run({ row })
      .then(() => undefined)
      .catch((err) => onJobError(row, err))
      .finally(() => {
        inFlight.delete(row.id);
        // A slot is free, and a retry may now be scheduled: look again.
        if (!stopped) wake();
      });
    inFlight.set(row.id, job);
  }

  /** Claims this controller could not confirm: nothing was sent for them, so they go back to pending. */
  async function releaseUnconfirmedClaims(): Promise<void> {
    for (const [id, row] of unconfirmedClaims) {
      const released = await deps.outbox.release(row, deps.who, new Date(now()));
      unconfirmedClaims.delete(id);
      if (released) log.info({ checkId: row.check.id, contactId: row.contactId, notification: row.key }, 'released a claim that was never confirmed; the notification is pending again');
    }
  }

  /** Attempts a dead controller left unrecorded: resend where that is safe, else end them as unconfirmed. */
  async function resolveStaleAttempts(): Promise<void> {
    for (const row of await deps.outbox.stale(staleAfterMs(deps.policy), 50)) {
      if (inFlight.has(row.id)) continue;
      const idempotent = row.contact ? deps.registry.get(row.contact.type)?.idempotent === true : false;
      const started = row.sendStartedAt !== null;
      const resolution = resolveStale(idempotent, started);
      const by = `controller ${row.claimedBy ?? '?'} (view ${row.claimedView ?? '?'})`;
      const detail = !started
        ? `attempt ${row.attempts} by ${by} was claimed but its send never started; sending it (same notification key)`
        : resolution === 'retry'
          ? `attempt ${row.attempts} by ${by} was never recorded; sending again with the same Idempotency-Key`
          : `attempt ${row.attempts} by ${by} was never recorded: it may or may not have arrived, and is not sent again`;
      const at = now();
      if (!(await deps.outbox.resolveStale(row, deps.who, resolution, detail, new Date(at)))) continue;
      log.warn({ checkId: row.check.id, contactId: row.contactId, notification: row.key, attempt: row.attempts, resolution }, detail);
      deps.publish({ ...eventBase(row, deps.who, at), outcome: resolution === 'retry' ? 'resend' : 'unconfirmed', message: detail });
      metrics.notification(row.contact?.type ?? '(missing)', resolution === 'retry' ? 'resend' : 'unconfirmed');
      if (resolution === 'unconfirmed') deps.notice(failureNotice(row, detail));
    }
  }

  /**
   * Held notifications: each hold is told to the log once (replay --explain shows "held:
   * maintenance <name> until …"); at the window's end the row is released to pending (sent
   * by this very sweep), held longer or skipped — each decided by one fenced update.
   */
  async function settleHeld(): Promise<void> {
    if (!deps.held) return;
    for (const row of await deps.held.held(new Date(now()), 50)) {
      if (stopped) return;
      if (!row.announced) {
        const detail = `held: maintenance ${row.heldBy ?? '?'} until ${row.until.toISOString()}`;
        // Noted first: of two controllers only the one whose note lands says it.
        if (await deps.held.noteHeld(row, detail)) {
          log.info({ checkId: row.check.id, contactId: row.contactId, notification: row.key, until: row.until.toISOString() }, detail);
          deps.publish({ ...eventBase(row, deps.who, now()), outcome: 'held', message: detail, nextAttemptAt: row.until.toISOString() });
        }
      }
      if (row.until.getTime() > now()) continue;
      const decision = await deps.held.releaseHeld(row, deps.who, new Date(now()));
      if (!decision) continue;
      log.info({ checkId: row.check.id, contactId: row.contactId, notification: row.key, decision: decision.result }, decision.detail);
      deps.publish({
        ...eventBase(row, deps.who, now()),
        outcome: decision.result,
        message: decision.detail,
        ...(decision.result === 'extended' ? { nextAttemptAt: decision.until.toISOString() } : {}),
      });
    }
  }

  let remindersLookedAt = -Infinity;
  let reminderError: string | null = null;
  /**
   * Reminders: each slot that came for an outage still going on becomes its own outbox row,
   * sent by this very sweep. Looked for at most every reminderScanMs.
   */
  async function queueReminders(): Promise<void> {
    if (!deps.reminders || now() - remindersLookedAt < (deps.reminderScanMs ?? 10_000)) return;
    remindersLookedAt = now();
    try {
      for (const c of await deps.reminders.candidates(100)) {
        const everyMs = c.everySeconds * 1000;
        for (const slot of dueReminders(now(), c.offlineSince.getTime(), everyMs, c.max, c.queued)) {
          if (stopped) return;
          // Dated at its slot: the reminder says how long the check had been offline then.
          const at = new Date(c.offlineSince.getTime() + slot * everyMs);
          if (await deps.reminders.queue(c, slot, deps.who, at)) {
            log.info({ checkId: c.checkId, contactId: c.contactId, transition: c.transitionKey, reminder: slot }, `reminder ${slot} queued: the check is still offline`);
          }
        }
      }
      reminderError = null;
    } catch (err) {
      // Fenced, or MySQL unreachable: handled as any sweep failure.
      if (err instanceof FencedError || isConnectionError(err)) throw err;
      // Anything else (say, a database not migrated to schema version 7) must not stop the delivery of what is owed.
      const message = errorMessage(err);
      if (reminderError !== message) log.error({ error: message }, 'could not queue reminders; owed notifications are still delivered');
      reminderError = message;
    }
  }

  async function scheduleNext(): Promise<void> {
    if (stopped) return;
    // Every slot taken: a finishing job wakes the sweep; waiting for a due row would spin.
    const next = inFlight.size < concurrency ? await deps.outbox.nextDue() : null;
    // At least 25 ms: a row already due is one whose claim is still committing (it is in
    // flight), and looking again at once would only spin.
    const untilDue = next ? Math.max(25, next.getTime() - now()) : pollMs;
    // Never longer than the poll: a stale claim or another process's row must be noticed.
    timer = setTimeout(wake, Math.min(untilDue, pollMs));
  }

  function onSweepError(err: unknown): void {
    if (err instanceof FencedError) {
      log.error({ error: err.message }, 'a newer controller has taken over: this one delivers nothing more');
      stopped = true;
      return;
    }
    if (isConnectionError(err)) {
      if (unreachableSince === null) {
        unreachableSince = now();
        log.error({ error: errorMessage(err) }, 'MySQL unreachable: notifications wait in the outbox');
      }
    } else {
      log.error({ error: errorMessage(err) }, 'outbox sweep failed');
    }
    if (!stopped) timer = setTimeout(wake, pollMs);
  }

  function endOutage(): void {
    if (unreachableSince === null) return;
    log.info({ downMs: now() - unreachableSince }, 'MySQL reachable again: delivering');
    unreachableSince = null;
  }

  function onJobError(row: OutboxRow, err: unknown): void {
    const fields = { checkId: row.check.id, contactId: row.contactId, notification: row.key, error: errorMessage(err) };
    if (err instanceof ClaimError && isConnectionError(err.cause)) {
      // The claim may have committed with nothing sent: undo it once MySQL answers again.
      unconfirmedClaims.set(row.id, row);
      log.warn(fields, 'claim not confirmed; nothing was sent, the claim is released once MySQL answers');
      return;
    }
    if (err instanceof ClaimError && err.cause instanceof FencedError) err = err.cause;
    if (err instanceof FencedError) {
      log.error(fields, 'a newer controller has taken over: this one delivers nothing more');
      stopped = true;
      return;
    }
    // Claimed and sent but not recorded: the row stays 'sending' and is judged stale later.
    log.error(fields, 'delivery step failed; the outbox keeps the notification');
  }

  const idle = async () => {
    while (sweeping || inFlight.size > 0) {
      await sweeping;
      await Promise.all(inFlight.values());
    }
  };

  wake();
  return {
    wake,
    idle,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await sweeping;
      await Promise.all(inFlight.values());
    },
  };
}

function eventBase(row: OutboxRow, who: Claimant, at: number) {
  return {
    type: 'notify' as const,
    checkId: row.check.id,
    notification: row.key,
    transition: row.transitionKey,
    contact: row.contactId,
    contactType: row.contact?.type ?? '(missing)',
    attempt: row.attempts,
    at: new Date(at).toISOString(),
    view: who.view,
    controller: who.controller,
  };
}

function failureNotice(row: OutboxRow, error: string): NotificationFailedNotice {
  return {
    kind: 'notification-failed',
    checkId: row.check.id,
    checkName: row.check.name,
    contactId: row.contactId,
    contactType: row.contact?.type ?? '(missing)',
    notificationId: row.key,
    attempts: row.attempts,
    error,
  };
}
