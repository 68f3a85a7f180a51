import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Charge } from '../contacts/types.ts';
import { activeWindow, judgeWindow, type MaintenanceWindow } from '../maintenance/windows.ts';
import { route, type AlertRow } from '../notify/routing.ts';
import { partialJson } from '../notify/partial.ts';
import type { Cluster } from './cluster.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';
import type { Transition } from './store.ts';
import { clip } from '../text.ts';

/** One notification owed by a recorded transition (a `bearmon_notifications` row). */
export interface OutboxRow {
  id: number;
  /** Transition key + '/' + contact id: the notification id receivers see (Idempotency-Key). */
  key: string;
  transitionKey: string;
  alertId: number;
  contactId: number;
  /** Null when the alert names a contact that does not exist. */
  contact: { type: string; data: string } | null;
  check: { id: number; name: string; type: string; data: string };
  status: 'online' | 'offline';
  message: string;
  workers: string[];
  transitionAt: Date;
  state: OutboxState;
  /** Claims so far; the claim being worked on is attempt number `attempts`. */
  attempts: number;
  claimedView: number | null;
  claimedBy: string | null;
  claimedAt: Date | null;
  /**
   * When the current attempt's send began (NULL: claimed, but the contact was not called).
   * A claim a dead controller left without it is resent by its successor: nothing went out.
   */
  sendStartedAt: Date | null;
  /** The reminder's slot number (1, 2, …), null for the transition's own notification. */
  reminder: number | null;
  /** When the outage began: set on an online (recovery) notification and on reminders. */
  offlineSince: Date | null;
  /** The maintenance window that held it (null: none). */
  heldBy: string | null;
  /** The grouped message (storm) that carries it: that message's key (null: sent on its own). */
  groupKey: string | null;
  /**
   * A partial outage notification: the column's JSON as stored (null: a status change).
   * Validated where the row becomes a Notification (src/notify/stages.ts).
   */
  partial: string | null;
}

/** 'held': waits for a maintenance window to end; 'skipped': the check changed again meanwhile, nobody is told. */
export type OutboxState = 'pending' | 'sending' | 'delivered' | 'failed' | 'unconfirmed' | 'held' | 'skipped';
export type AttemptResult = 'delivered' | 'retry' | 'failed' | 'unconfirmed';

/** Who is claiming: the controller's worker id and the view that made it controller. */
export interface Claimant {
  view: number;
  controller: string;
}

/** What an attempt ended as, to be recorded on the row and its attempt. */
export interface AttemptRecord {
  result: AttemptResult;
  /** Delivery detail or error text (already free of secrets). */
  detail: string;
  /** Only for 'retry': when the next attempt may start. */
  nextAttemptAt?: Date;
  charge?: Charge;
  at: Date;
}

/** Longest stored texts (column sizes); longer ones are cut, never refused. */
const MESSAGE_MAX = 4096;
const WORKERS_MAX = 2048;
const DETAIL_MAX = 1024;

export const ROW_COLUMNS = `id, notification_key, transition_key, check_id, alert_id, contact_id, contact_type, contact_data,
  check_name, check_type, check_data, status, message, workers, transition_at, state, attempts,
  claimed_view, claimed_by, claimed_at, send_started_at, reminder, offline_since, held_by, group_key, partial`;
const LISTING_COLUMNS = `${ROW_COLUMNS}, next_attempt_at, outcome, finished_at, created_at`;

/** How owed notifications are scheduled (from [controller]). */
export interface OweOptions {
  /**
   * First attempts wait this long after the transition ([controller] stormWindow while storm
   * grouping is on), so the other flips of a storm are in the outbox when delivery looks.
   */
  groupWaitMs?: number;
}

/**
 * Inside the transition's transaction: routes the check's alerts (SPEC §4) and inserts one
 * outbox row per contact to notify. Returns how many are owed. Inside a maintenance window
 * the rows are inserted 'held' until its end: decided in the transition's own transaction,
 * so a successor controller finds the same rows and nothing is decided twice. A partial
 * outage (t.partial) goes to `partial` alerts only; inside a window its rows are held too,
 * and at the window's end a start is told only if the outage is still in progress, an end
 * only if its start was told (src/notify/hold.ts).
 */
export async function insertOwedNotifications(connection: PoolConnection, t: Transition, timeout: number, options: OweOptions = {}): Promise<number> {
  const [checks] = await connection.query<RowDataPacket[]>({ sql: 'SELECT name, type, data FROM checks WHERE id = ?', timeout }, [t.checkId]);
  const check = checks[0];
  if (!check) return 0;
  // Back online: the outage's reminders not yet sent are dropped (one being sent finishes).
  if (t.to === 'online' && !t.partial) await skipPendingReminders(connection, t, timeout);
  const [alerts] = await connection.query<RowDataPacket[]>(
    {
      sql: `SELECT a.id AS alertId, a.contact_id AS contactId, a.type AS type, a.enabled AS enabled,
              c.id AS contactFound, c.type AS contactType, c.data AS contactData
            FROM alerts a LEFT JOIN contacts c ON c.id = a.contact_id WHERE a.check_id = ?`,
      timeout,
    },
    [t.checkId],
  );
  const routes = route(alerts.map(toAlertRow), t.partial ? 'partial' : t.to);
  if (routes.length === 0) return 0;
  const hold = activeWindow(await maintenanceWindows(connection, t.checkId, timeout), t.checkId, t.at);
  // Partial rows are never grouped (src/notify/delivery.ts): they need not wait for a storm.
  const firstAttempt = hold ? hold.until : new Date(t.at.getTime() + (t.partial ? 0 : (options.groupWaitMs ?? 0)));
  // A recovery says how long the outage lasted: from the check's last offline event before it
  // (for a partial outage: from when it began, if that was notified).
  // Each contact's own partial-outage story so far (partial records only).
  const told = t.partial ? await toldOfPartialOutage(connection, t, timeout) : new Map<number, Date>();
  const offlineSince = t.to !== 'online' ? null : t.partial ? null : await lastOfflineAt(connection, t, timeout);
  // Held like a status change: at the window's end a partial outage still in progress is told
  // (src/notify/hold.ts); one over by then is not.
  const held: Record<string, unknown> = !hold ? {} : { state: 'held', held_by: hold.name, outcome: null, finished_at: null };
  // Judged per contact from what it was told, not by key (a successor may date the same
  // outage's start a little differently): the end goes only to a contact told of a start
  // (one told nothing — skipped in a window, or its alert made since — would hear "no longer
  // partially down" about an outage it never heard of), and a start only to one not already
  // told of an outage in progress.
  const skip = (outcome: string) => ({ state: 'skipped', held_by: null, outcome, finished_at: t.at });
  const stateOf = (contactId: number): Record<string, unknown> => {
    if (hold) return held;
    const since = told.get(contactId);
    if (t.partial?.phase === 'ended' && since === undefined) return skip('the start of this partial outage was not notified to this contact: nor is its end');
    if (t.partial?.phase === 'began' && since !== undefined) return skip(`already told of a partial outage in progress since ${since.toISOString()}`);
    return { state: 'pending', held_by: null, outcome: null, finished_at: null };
  };
  const partialSince = (contactId: number) => (t.partial?.phase === 'ended' ? (told.get(contactId) ?? null) : offlineSince);
  const stateColumns = hold ? Object.keys(held) : ['state', 'held_by', 'outcome', 'finished_at'];
  const values = routes.map((r) => [
    `${t.key}/${r.contactId}`,
    t.key,
    t.checkId,
    r.alertId,
    r.contactId,
    r.contact?.type ?? null,
    r.contact?.data ?? null,
    String(check.name ?? ''),
    String(check.type ?? ''),
    String(check.data ?? ''),
    t.to,
    clip(t.message ?? '', MESSAGE_MAX),
    workersJson(t.workers ?? []),
    t.at,
    partialSince(r.contactId),
    firstAttempt,
    t.partial ? partialJson(t.partial) : null,
    ...(hold || t.partial ? Object.values(stateOf(r.contactId)) : []),
  ]);
  await connection.query(
    {
      sql: `INSERT INTO bearmon_notifications (notification_key, transition_key, check_id, alert_id, contact_id, contact_type,
              contact_data, check_name, check_type, check_data, status, message, workers, transition_at, offline_since, next_attempt_at,
              partial${(hold || t.partial ? stateColumns : []).map((c) => `, ${c}`).join('')}) VALUES ?`,
      timeout,
    },
    [values],
  );
  return routes.length;
}

/**
 * The enabled windows that may cover the check (null: every window). A row the judge refuses
 * (written by hand) holds nothing; a database without the table (not migrated) has none.
 */
export async function maintenanceWindows(connection: PoolConnection, checkId: number | null, timeout: number): Promise<MaintenanceWindow[]> {
  let rows: RowDataPacket[];
  try {
    [rows] = await connection.query<RowDataPacket[]>(
      {
        sql: `SELECT name, check_id, kind, spec, time_zone FROM bearmon_maintenance WHERE enabled = 1${checkId === null ? '' : ' AND (check_id IS NULL OR check_id = ?)'}`,
        timeout,
      },
      checkId === null ? [] : [checkId],
    );
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ER_NO_SUCH_TABLE') return [];
    throw err;
  }
  return rows.flatMap((r) => {
    const judged = judgeWindow({ name: text(r.name), checkId: r.check_id === null ? null : Number(r.check_id), kind: text(r.kind), spec: text(r.spec), timeZone: text(r.time_zone) });
    return judged.ok ? [judged.window] : [];
  });
}

/** Reminders still waiting when their check came back online end 'skipped': nobody is told a stale "still offline". */
async function skipPendingReminders(connection: PoolConnection, t: Transition, timeout: number): Promise<void> {
  await connection.query(
    {
      sql: `UPDATE bearmon_notifications SET state = 'skipped', outcome = 'the check came back online before this reminder was sent', finished_at = ?
            WHERE check_id = ? AND reminder IS NOT NULL AND state = 'pending'`,
      timeout,
    },
    [t.at, t.checkId],
  );
}

/**
 * When the outage a recovery ends began: the check's latest offline event not after it
 * (check_events, which gobearmon-era outages have too; whole seconds). Null: none recorded.
 */
async function lastOfflineAt(connection: PoolConnection, t: Transition, timeout: number): Promise<Date | null> {
  const [rows] = await connection.query<RowDataPacket[]>(
    { sql: "SELECT time FROM check_events WHERE check_id = ? AND type = 'offline' AND time <= ? ORDER BY time DESC, id DESC LIMIT 1", timeout },
    [t.checkId, t.at],
  );
  const at = rows[0]?.time;
  return at instanceof Date ? at : null;
}

/**
 * The contacts told of a partial outage of this check that has not ended for them: each
 * contact's latest partial row not skipped, before this record, if it is a start — with
 * when that start was.
 */
async function toldOfPartialOutage(connection: PoolConnection, t: Transition, timeout: number): Promise<Map<number, Date>> {
  const [rows] = await connection.query<RowDataPacket[]>(
    {
      sql: `SELECT contact_id, partial, transition_at FROM bearmon_notifications
            WHERE check_id = ? AND partial IS NOT NULL AND state NOT IN ('skipped', 'held') AND transition_at <= ? AND transition_key <> ?
            ORDER BY transition_at, id`,
      timeout,
    },
    [t.checkId, t.at, t.key],
  );
  const told = new Map<number, Date>();
  for (const row of rows) {
    const contactId = Number(row.contact_id);
    const began = String(row.partial).startsWith('{"phase":"began"');
    if (began && row.transition_at instanceof Date) told.set(contactId, row.transition_at);
    else told.delete(contactId);
  }
  return told;
}

/** The confirming workers as JSON that fits the column: with 100 confirmations of long ids it would not. */
function workersJson(workers: readonly string[]): string {
  const kept = [...workers];
  let json = JSON.stringify(kept);
  while (json.length > WORKERS_MAX && kept.length > 0) {
    kept.pop();
    json = JSON.stringify([...kept, `… ${workers.length - kept.length} more`]);
  }
  return json;
}

function toAlertRow(row: RowDataPacket): AlertRow {
  return {
    alertId: Number(row.alertId),
    contactId: Number(row.contactId),
    type: row.type,
    enabled: row.enabled,
    contact: row.contactFound === null ? null : { type: String(row.contactType ?? ''), data: String(row.contactData ?? '') },
  };
}

export interface Outbox {
  /** Pending notifications whose next attempt is due, oldest first. */
  due(now: Date, limit: number): Promise<OutboxRow[]>;
  /** When the earliest pending notification becomes due (null: none pending). */
  nextDue(): Promise<Date | null>;
  /**
   * Rows claimed at least `olderThanMs` ago (by the database's clock, which every controller
   * shares, unlike their own) whose outcome was never recorded.
   */
  stale(olderThanMs: number, limit: number): Promise<OutboxRow[]>;
  /**
   * Undoes a claim this controller made but could not confirm (the connection died around
   * its commit): nothing was sent, so the row goes back to pending. Changes nothing when
   * the claim never committed. Fenced by view.
   */
  release(row: OutboxRow, who: Claimant, at: Date): Promise<boolean>;
  /** Takes a pending row for one attempt; null when another claim got it first. Fenced by view. */
  claim(row: OutboxRow, who: Claimant, at: Date): Promise<OutboxRow | null>;
  /**
   * Marks the claimed attempt's send as begun, just before the contact is called; false when
   * the claim was taken over meanwhile (then nothing may be sent). Fenced by view. Until it
   * commits, a stale claim is known to have sent nothing.
   */
  startSend(row: OutboxRow, who: Claimant): Promise<boolean>;
  /** Records the attempt's outcome; false when the claim was taken over meanwhile (nothing changed). */
  record(row: OutboxRow, outcome: AttemptRecord): Promise<boolean>;
  /**
   * Resolves an attempt a controller never recorded: 'retry' puts the row back to pending
   * (safe for idempotent contacts, and for any send that never started), 'unconfirmed' ends
   * it. Changes nothing when the row's send start differs from the one `row` was read with
   * (a slow owner began its send meanwhile: judged again on the next sweep). Fenced by view.
   */
  resolveStale(row: OutboxRow, who: Claimant, resolution: 'retry' | 'unconfirmed', detail: string, at: Date): Promise<boolean>;
  /** A row by notification key (tests, `bearmon` status tools). */
  byKey(key: string): Promise<OutboxRow | null>;
  /** Backlog and recent outcomes, for `bearmon status`. */
  summary(now: Date): Promise<OutboxSummary>;
  /** Rows newest first (highest id), for `bearmon notifications list`. */
  list(filter: OutboxFilter): Promise<OutboxListing[]>;
  /**
   * Puts a failed or unconfirmed row back to pending, due at `at` (`bearmon notifications
   * retry`). `attempts` is kept: it is the claim version, so the next attempt is number
   * attempts + 1. Rows in any other state are left alone (requeued: false).
   */
  requeue(id: number, at: Date): Promise<RequeueResult>;
}

export interface OutboxFilter {
  state?: OutboxState;
  checkId?: number;
  limit: number;
}

/** An outbox row with its schedule and history, as the operator commands show it. */
export interface OutboxListing extends OutboxRow {
  nextAttemptAt: Date;
  /** Last attempt's detail or error (null before the first attempt). */
  outcome: string | null;
  finishedAt: Date | null;
  createdAt: Date;
}

export type RequeueResult =
  | { requeued: true; before: OutboxListing; row: OutboxListing }
  /** row: as it is (null: no such id). */
  | { requeued: false; row: OutboxListing | null };

/** The states an operator may send again; the others are queued, being sent or done. */
export const REQUEUEABLE_STATES: readonly OutboxState[] = ['failed', 'unconfirmed'];
export const REQUEUE_NOTE = 'retry requested by operator';

export interface OutboxSummary {
  pending: number;
  /** Held by a maintenance window. */
  held?: number;
  sending: number;
  /** Creation time of the oldest notification not yet finished (null: none). */
  oldestOpen: string | null;
  /** Finished in the last 24 hours, by outcome. */
  lastDay: { delivered: number; failed: number; unconfirmed: number };
}

const DAY_MS = 86_400_000;

export function createOutbox(cluster: Cluster): Outbox {
  const timeout = cluster.queryTimeoutMs;
  const select = async (sql: string, params: unknown[]) =>
    cluster.run((pool) => withPooledConnection(pool, async (c) => (await c.query<RowDataPacket[]>({ sql, timeout }, params))[0].map(toOutboxRow)));
  const transaction = <T>(work: (c: PoolConnection) => Promise<T | null>) => cluster.run((pool: Pool) => inTransaction(pool, work, undefined, timeout));

  return {
    due: (now, limit) =>
      select(`SELECT ${ROW_COLUMNS} FROM bearmon_notifications WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, [now, limit]),
    nextDue: async () => {
      const rows = await cluster.run((pool) =>
        withPooledConnection(pool, async (c) => (await c.query<RowDataPacket[]>({ sql: "SELECT MIN(next_attempt_at) AS at FROM bearmon_notifications WHERE state IN ('pending', 'held')", timeout }))[0]),
      );
      const at = rows[0]?.at;
      return at instanceof Date ? at : null;
    },
    stale: (olderThanMs, limit) =>
      select(
        `SELECT ${ROW_COLUMNS} FROM bearmon_notifications WHERE state = 'sending' AND claimed_at <= NOW(3) - INTERVAL ? MICROSECOND ORDER BY claimed_at, id LIMIT ?`,
        [Math.round(olderThanMs * 1000), limit],
      ),
    release: async (row, who, at) =>
      (await transaction(async (c) => {
        await checkFence(c, who.view, timeout);
        const attempt = row.attempts + 1;
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET state = 'pending', next_attempt_at = ?, send_started_at = NULL
                  WHERE id = ? AND state = 'sending' AND attempts = ? AND claimed_view = ? AND claimed_by = ?`,
            timeout,
          },
          [at, row.id, attempt, who.view, who.controller],
        );
        if (update.affectedRows !== 1) return null;
        await finishAttempt(c, { ...row, attempts: attempt }, 'retry', 'claim not confirmed (MySQL connection lost around its commit); nothing was sent', at, timeout);
        return true;
      })) === true,
    claim: (row, who, at) =>
      transaction(async (c) => {
        await checkFence(c, who.view, timeout);
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET state = 'sending', attempts = attempts + 1, claimed_view = ?, claimed_by = ?, claimed_at = NOW(3),
                    send_started_at = NULL
                  WHERE id = ? AND state = 'pending' AND attempts = ?`,
            timeout,
          },
          [who.view, who.controller, row.id, row.attempts],
        );
        if (update.affectedRows !== 1) return null;
        const attempt = row.attempts + 1;
        await c.query(
          { sql: 'INSERT INTO bearmon_notification_attempts (notification_id, attempt, view, controller, started_at) VALUES (?, ?, ?, ?, ?)', timeout },
          [row.id, attempt, who.view, who.controller, at],
        );
        return { ...row, state: 'sending' as const, attempts: attempt, claimedView: who.view, claimedBy: who.controller, claimedAt: at, sendStartedAt: null };
      }),
    startSend: async (row, who) =>
      (await transaction(async (c) => {
        await checkFence(c, who.view, timeout);
        // The database's clock, like claimed_at: every controller judges staleness by it.
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET send_started_at = NOW(3)
                  WHERE id = ? AND state = 'sending' AND attempts = ? AND claimed_view = ? AND claimed_by = ? AND send_started_at IS NULL`,
            timeout,
          },
          [row.id, row.attempts, who.view, who.controller],
        );
        return update.affectedRows === 1 ? true : null;
      })) === true,
    record: async (row, outcome) =>
      (await transaction(async (c) => {
        const state: OutboxState = outcome.result === 'retry' ? 'pending' : outcome.result;
        const detail = clip(outcome.detail, DETAIL_MAX);
        const finished = state === 'pending' ? null : outcome.at;
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at), outcome = ?, finished_at = ?
                  WHERE id = ? AND state = 'sending' AND attempts = ?`,
            timeout,
          },
          [state, outcome.nextAttemptAt ?? null, detail, finished, row.id, row.attempts],
        );
        // Not 'sending' any more: taken over — or recorded by our own earlier try whose COMMIT
        // went through while its answer was lost. That one is this very outcome: recorded.
        if (update.affectedRows !== 1) return (await alreadyRecorded(c, row, state, detail, timeout)) ? true : null;
        await finishAttempt(c, row, outcome.result, detail, outcome.at, timeout);
        if (outcome.charge) {
          await c.query({ sql: 'INSERT INTO charges (check_id, type, data) VALUES (?, ?, ?)', timeout }, [row.check.id, outcome.charge.type, outcome.charge.sid]);
        }
        return true;
      })) === true,
    resolveStale: async (row, who, resolution, detail, at) =>
      (await transaction(async (c) => {
        await checkFence(c, who.view, timeout);
        const text = clip(detail, DETAIL_MAX);
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET state = ?, next_attempt_at = ?, outcome = ?, finished_at = ?
                  WHERE id = ? AND state = 'sending' AND attempts = ? AND (send_started_at IS NULL) = ?`,
            timeout,
          },
          [resolution === 'retry' ? 'pending' : 'unconfirmed', at, text, resolution === 'retry' ? null : at, row.id, row.attempts, row.sendStartedAt === null],
        );
        if (update.affectedRows !== 1) return null;
        // An attempt whose send never started ended as a plain retry: nothing is unknown about it.
        await finishAttempt(c, row, row.sendStartedAt === null ? 'retry' : 'unconfirmed', text, at, timeout);
        return true;
      })) === true,
    byKey: async (key) => (await select(`SELECT ${ROW_COLUMNS} FROM bearmon_notifications WHERE notification_key = ?`, [key]))[0] ?? null,
    summary: async (now) => {
      const rows = await cluster.run((pool) =>
        withPooledConnection(pool, async (c) => {
          const [open] = await c.query<RowDataPacket[]>(
            { sql: "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM bearmon_notifications WHERE state IN ('pending', 'sending', 'held') GROUP BY state", timeout },
          );
          const [done] = await c.query<RowDataPacket[]>(
            { sql: "SELECT state, COUNT(*) AS n FROM bearmon_notifications WHERE state IN ('delivered', 'failed', 'unconfirmed') AND finished_at >= ? GROUP BY state", timeout },
            [new Date(now.getTime() - DAY_MS)],
          );
          return { open, done };
        }),
      );
      const count = (list: RowDataPacket[], state: string) => Number(list.find((r) => r.state === state)?.n ?? 0);
      const oldest = rows.open.filter((r) => r.state !== 'held').map((r) => dateOrNull(r.oldest)).filter((d): d is Date => d !== null).sort((a, b) => a.getTime() - b.getTime())[0];
      return {
        pending: count(rows.open, 'pending'),
        sending: count(rows.open, 'sending'),
        // Only when there are any: a status without maintenance looks as it always did.
        ...(count(rows.open, 'held') > 0 ? { held: count(rows.open, 'held') } : {}),
        oldestOpen: oldest ? oldest.toISOString() : null,
        lastDay: { delivered: count(rows.done, 'delivered'), failed: count(rows.done, 'failed'), unconfirmed: count(rows.done, 'unconfirmed') },
      };
    },
    list: async (filter) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.state !== undefined) {
        where.push('state = ?');
        params.push(filter.state);
      }
      if (filter.checkId !== undefined) {
        where.push('check_id = ?');
        params.push(filter.checkId);
      }
      const sql = `SELECT ${LISTING_COLUMNS} FROM bearmon_notifications ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      const rows = await cluster.run((pool) => withPooledConnection(pool, async (c) => (await c.query<RowDataPacket[]>({ sql, timeout }, [...params, filter.limit]))[0]));
      return rows.map(toListing);
    },
    requeue: async (id, at) => {
      const readRow = async (c: PoolConnection, lock: string) =>
        (await c.query<RowDataPacket[]>({ sql: `SELECT ${LISTING_COLUMNS} FROM bearmon_notifications WHERE id = ?${lock}`, timeout }, [id]))[0].map(toListing)[0] ?? null;
      const done = await transaction<RequeueResult>(async (c) => {
        const before = await readRow(c, ' FOR UPDATE');
        if (!before || !REQUEUEABLE_STATES.includes(before.state)) return { requeued: false, row: before };
        const outcome = clip(`${REQUEUE_NOTE} at ${at.toISOString()}${before.outcome ? `; was: ${before.outcome}` : ''}`, DETAIL_MAX);
        // Conditional, like claim and record: a row that changed meanwhile is not touched.
        const [update] = await c.query<ResultSetHeader>(
          {
            sql: `UPDATE bearmon_notifications SET state = 'pending', next_attempt_at = ?, outcome = ?, finished_at = NULL
                  WHERE id = ? AND state IN ('failed', 'unconfirmed') AND attempts = ?`,
            timeout,
          },
          [at, outcome, id, before.attempts],
        );
        if (update.affectedRows !== 1) return null;
        return { requeued: true, before, row: { ...before, state: 'pending', nextAttemptAt: at, outcome, finishedAt: null } };
      });
      if (done) return done;
      return { requeued: false, row: await cluster.run((pool) => withPooledConnection(pool, (c) => readRow(c, ''))) };
    },
  };
}

function toListing(row: RowDataPacket): OutboxListing {
  return {
    ...toOutboxRow(row),
    nextAttemptAt: dateOrNull(row.next_attempt_at) ?? new Date(0),
    outcome: row.outcome === null ? null : text(row.outcome),
    finishedAt: dateOrNull(row.finished_at),
    createdAt: dateOrNull(row.created_at) ?? new Date(0),
  };
}

export async function finishAttempt(c: PoolConnection, row: OutboxRow, result: AttemptResult, detail: string, at: Date, timeout: number): Promise<void> {
  await c.query(
    { sql: 'UPDATE bearmon_notification_attempts SET finished_at = ?, result = ?, detail = ? WHERE notification_id = ? AND attempt = ?', timeout },
    [at, result, detail, row.id, row.attempts],
  );
}

const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value ?? ''));
const dateOrNull = (value: unknown) => (value instanceof Date ? value : null);

/** Rows are bearmon's own, but a hand edit must not crash delivery: unreadable workers become []. */
export function toOutboxRow(row: RowDataPacket): OutboxRow {
  let workers: string[] = [];
  try {
    const parsed: unknown = JSON.parse(text(row.workers));
    if (Array.isArray(parsed)) workers = parsed.map(String);
  } catch {
    workers = [];
  }
  return {
    id: Number(row.id),
    key: text(row.notification_key),
    transitionKey: text(row.transition_key),
    alertId: Number(row.alert_id),
    contactId: Number(row.contact_id),
    contact: row.contact_type === null ? null : { type: text(row.contact_type), data: text(row.contact_data) },
    check: { id: Number(row.check_id), name: text(row.check_name), type: text(row.check_type), data: text(row.check_data) },
    status: row.status === 'online' ? 'online' : 'offline',
    message: text(row.message),
    workers,
    transitionAt: dateOrNull(row.transition_at) ?? new Date(0),
    state: row.state as OutboxState,
    attempts: Number(row.attempts),
    claimedView: row.claimed_view === null ? null : Number(row.claimed_view),
    claimedBy: row.claimed_by === null ? null : text(row.claimed_by),
    claimedAt: dateOrNull(row.claimed_at),
    sendStartedAt: dateOrNull(row.send_started_at),
    reminder: row.reminder === null || row.reminder === undefined ? null : Number(row.reminder),
    offlineSince: dateOrNull(row.offline_since),
    heldBy: row.held_by === null || row.held_by === undefined ? null : text(row.held_by),
    groupKey: row.group_key === null || row.group_key === undefined ? null : text(row.group_key),
    partial: row.partial === null || row.partial === undefined ? null : text(row.partial),
  };
}

/** Whether the row already holds exactly this outcome of this attempt (a retried record whose first COMMIT went through). */
async function alreadyRecorded(c: PoolConnection, row: OutboxRow, state: OutboxState, detail: string, timeout: number): Promise<boolean> {
  const [rows] = await c.query<RowDataPacket[]>({ sql: 'SELECT state, attempts, outcome FROM bearmon_notifications WHERE id = ?', timeout }, [row.id]);
  const current = rows[0];
  return current !== undefined && current.state === state && Number(current.attempts) === row.attempts && current.outcome === detail;
}
