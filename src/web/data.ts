/**
 * What the web role reads from MySQL: the checks table (names, types, enabled, the last
 * recorded status — never `data`), incidents (check_events) and what each one notified
 * (bearmon_notifications), and the outbox. Outbox rows are the operator commands' own
 * (src/db/outbox.ts); a notification's contact is shown as `bearmon notifications list`
 * shows it (safeContactData: a webhook's path or query may be its secret).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { safeContactData } from '../cli/notifications.ts';
import type { Cluster } from '../db/cluster.ts';
import { createOutbox, type Outbox, type OutboxListing, type OutboxState } from '../db/outbox.ts';
import { withPooledConnection } from '../db/sql.ts';

export interface CheckRow {
  id: number;
  name: string;
  type: string;
  enabled: boolean;
  /** checks.status: the last state a controller recorded. */
  status: 'online' | 'offline';
}

export interface IncidentRow {
  id: number;
  checkId: number;
  to: 'online' | 'offline';
  at: Date;
}

/** A notification as the dashboard shows it: no check data, the contact reduced. */
export interface NotificationView {
  id: number;
  checkId: number;
  checkName: string;
  contactId: number;
  contactType: string | null;
  contact: string | null;
  status: 'online' | 'offline';
  state: OutboxState;
  attempts: number;
  transitionAt: string;
  createdAt: string;
  nextAttemptAt: string | null;
  finishedAt: string | null;
  outcome: string | null;
}

export function notificationView(row: OutboxListing): NotificationView {
  return {
    id: row.id,
    checkId: row.check.id,
    checkName: row.check.name,
    contactId: row.contactId,
    contactType: row.contact?.type ?? null,
    contact: safeContactData(row.contact),
    status: row.status,
    state: row.state,
    attempts: row.attempts,
    transitionAt: row.transitionAt.toISOString(),
    createdAt: row.createdAt.toISOString(),
    nextAttemptAt: row.state === 'pending' ? row.nextAttemptAt.toISOString() : null,
    finishedAt: row.finishedAt ? row.finishedAt.toISOString() : null,
    outcome: row.outcome,
  };
}

export interface WebData {
  readonly outbox: Outbox;
  /** Every row of `checks` (cached for `cacheMs`). */
  checks(): Promise<CheckRow[]>;
  /** Forgets the cached rows (after this process changed one). */
  invalidate(): void;
  /** check_events newest first; `checkIds` limits to those checks (empty list: none). */
  incidents(options: { checkIds?: number[]; limit: number; since?: Date }): Promise<IncidentRow[]>;
  /** Outbox rows owed by transitions of these checks in [from, to], newest first. */
  notificationsAround(checkIds: number[], from: Date, to: Date, limit: number): Promise<NotificationView[]>;
}

const NOTIFICATION_COLUMNS = `id, notification_key, transition_key, check_id, alert_id, contact_id, contact_type, contact_data,
  check_name, check_type, '' AS check_data, status, message, workers, transition_at, state, attempts,
  claimed_view, claimed_by, claimed_at, next_attempt_at, outcome, finished_at, created_at`;

export function createWebData(cluster: Cluster, options: { cacheMs?: number } = {}): WebData {
  const timeout = cluster.queryTimeoutMs;
  const outbox = createOutbox(cluster);
  const query = (sql: string, params: unknown[]) =>
    cluster.run((pool) => withPooledConnection(pool, async (c) => (await c.query<RowDataPacket[]>({ sql, timeout }, params))[0]));
  let cached: { at: number; rows: Promise<CheckRow[]> } | undefined;
  const cacheMs = options.cacheMs ?? 5000;

  return {
    outbox,
    checks: () => {
      if (cached && Date.now() - cached.at < cacheMs) return cached.rows;
      const rows = query('SELECT id, name, type, enabled, status FROM checks ORDER BY id', []).then((list) =>
        list.map((r) => ({ id: Number(r.id), name: String(r.name), type: String(r.type), enabled: Number(r.enabled) === 1, status: r.status === 'offline' ? ('offline' as const) : ('online' as const) })),
      );
      cached = { at: Date.now(), rows };
      rows.catch(() => {
        if (cached?.rows === rows) cached = undefined;
      });
      return rows;
    },
    invalidate: () => {
      cached = undefined;
    },
    incidents: async ({ checkIds, limit, since }) => {
      if (checkIds && checkIds.length === 0) return [];
      const where: string[] = ["type IN ('online', 'offline')"];
      const params: unknown[] = [];
      if (checkIds) {
        where.push('check_id IN (?)');
        params.push(checkIds);
      }
      if (since) {
        where.push('time >= ?');
        params.push(since);
      }
      const rows = await query(`SELECT id, check_id, type, time FROM check_events WHERE ${where.join(' AND ')} ORDER BY time DESC, id DESC LIMIT ?`, [...params, limit]);
      return rows.filter((r) => r.time instanceof Date).map((r) => ({ id: Number(r.id), checkId: Number(r.check_id), to: r.type, at: r.time as Date }));
    },
    notificationsAround: async (checkIds, from, to, limit) => {
      if (checkIds.length === 0) return [];
      const rows = await query(
        `SELECT ${NOTIFICATION_COLUMNS} FROM bearmon_notifications WHERE check_id IN (?) AND transition_at BETWEEN ? AND ? ORDER BY id DESC LIMIT ?`,
        [checkIds, from, to, limit],
      );
      // The listing's own reader turns rows into OutboxListing (the check's data was not even selected).
      const listed = await outboxRows(rows);
      return listed.map(notificationView);
    },
  };
}

/** Rows of bearmon_notifications in OutboxListing form, without a second query. */
async function outboxRows(rows: RowDataPacket[]): Promise<OutboxListing[]> {
  const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));
  const date = (v: unknown) => (v instanceof Date ? v : null);
  return rows.map((r) => ({
    id: Number(r.id),
    key: text(r.notification_key),
    transitionKey: text(r.transition_key),
    alertId: Number(r.alert_id),
    contactId: Number(r.contact_id),
    contact: r.contact_type === null ? null : { type: text(r.contact_type), data: text(r.contact_data) },
    check: { id: Number(r.check_id), name: text(r.check_name), type: text(r.check_type), data: '' },
    status: r.status,
    message: text(r.message),
    workers: [],
    transitionAt: date(r.transition_at) ?? new Date(0),
    state: r.state,
    attempts: Number(r.attempts),
    claimedView: r.claimed_view === null ? null : Number(r.claimed_view),
    claimedBy: r.claimed_by === null ? null : text(r.claimed_by),
    claimedAt: date(r.claimed_at),
    // Not selected (NOTIFICATION_COLUMNS): the dashboard shows neither.
    sendStartedAt: null,
    reminder: null,
    offlineSince: null,
    nextAttemptAt: date(r.next_attempt_at) ?? new Date(0),
    outcome: r.outcome === null ? null : text(r.outcome),
    finishedAt: date(r.finished_at),
    createdAt: date(r.created_at) ?? new Date(0),
    // Not selected either: the dashboard shows no maintenance hold, storm group or partial outage yet.
    heldBy: null,
    groupKey: null,
    partial: null,
  }));
}
