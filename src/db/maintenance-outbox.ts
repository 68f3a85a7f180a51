/**
 * The outbox's side of maintenance windows: rows inserted 'held' (insertOwedNotifications)
 * are announced once in the log and, when their window ends, released to pending or
 * skipped — each by one conditional update fenced by view, so across a fail-over exactly one
 * controller decides, and a released row then goes through the ordinary claim.
 */
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { activeWindow } from '../maintenance/windows.ts';
import { holdDecision, type HoldDecision, type HoldFacts } from '../notify/hold.ts';
import { clip } from '../text.ts';
import type { Cluster } from './cluster.ts';
import { maintenanceWindows, ROW_COLUMNS, toOutboxRow, type Claimant, type OutboxRow } from './outbox.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';

export interface HeldOutbox {
  /** Held rows whose window has ended (next_attempt_at ≤ now) or that were never announced (outcome NULL). */
  held(now: Date, limit: number): Promise<HeldRow[]>;
  /** Notes on the row that its hold was announced in the log; false when another controller did already. */
  noteHeld(row: OutboxRow, detail: string): Promise<boolean>;
  /** Decides a held row at its window's end (see holdDecision); null when it is not held any more. */
  releaseHeld(row: OutboxRow, who: Claimant, now: Date): Promise<HoldDecision | null>;
}

export interface HeldRow extends OutboxRow {
  /** When the hold ends (its window's end). */
  until: Date;
  /** Its hold is in the log already. */
  announced: boolean;
}

export function createHeldOutbox(cluster: Cluster): HeldOutbox {
  const timeout = cluster.queryTimeoutMs;
  return {
    held: (now, limit) =>
      cluster.run((pool) =>
        withPooledConnection(pool, async (c) =>
          (
            await c.query<RowDataPacket[]>(
              {
                sql: `SELECT ${ROW_COLUMNS}, next_attempt_at, outcome FROM bearmon_notifications
                      WHERE state = 'held' AND (next_attempt_at <= ? OR outcome IS NULL) ORDER BY next_attempt_at, id LIMIT ?`,
                timeout,
              },
              [now, limit],
            )
          )[0].map((r) => ({ ...toOutboxRow(r), until: r.next_attempt_at as Date, announced: r.outcome !== null })),
        ),
      ),
    noteHeld: async (row, detail) =>
      (await cluster.run((pool) =>
        withPooledConnection(pool, async (c) => {
          const [update] = await c.query<ResultSetHeader>(
            { sql: "UPDATE bearmon_notifications SET outcome = ? WHERE id = ? AND state = 'held' AND outcome IS NULL", timeout },
            [clip(detail, 1024), row.id],
          );
          return update.affectedRows === 1;
        }),
      )) === true,
    releaseHeld: (row, who, now) =>
      cluster.run((pool) =>
        inTransaction(
          pool,
          async (c: PoolConnection) => {
            await checkFence(c, who.view, timeout);
            const [current] = await c.query<RowDataPacket[]>({ sql: "SELECT held_by FROM bearmon_notifications WHERE id = ? AND state = 'held' FOR UPDATE", timeout }, [row.id]);
            if (current.length === 0) return null;
            const [checks] = await c.query<RowDataPacket[]>({ sql: 'SELECT status FROM checks WHERE id = ?', timeout }, [row.check.id]);
            // A later notification row of the check means a later transition (any contact's); a
            // partial outage's rows are no change of the check's status.
            const [later] = await c.query<RowDataPacket[]>(
              { sql: 'SELECT 1 FROM bearmon_notifications WHERE check_id = ? AND transition_at > ? AND transition_key <> ? AND partial IS NULL LIMIT 1', timeout },
              [row.check.id, row.transitionAt, row.transitionKey],
            );
            // The contact's last notification of an outage before this one, if any.
            const [outage] = await c.query<RowDataPacket[]>(
              {
                sql: "SELECT state FROM bearmon_notifications WHERE check_id = ? AND contact_id = ? AND status = 'offline' AND partial IS NULL AND transition_at < ? ORDER BY transition_at DESC, id DESC LIMIT 1",
                timeout,
              },
              [row.check.id, row.contactId, row.transitionAt],
            );
            const partial = row.partial === null ? undefined : await partialHoldFacts(c, row, timeout);
            const decision = holdDecision({
              ...(partial ? { partial } : {}),
              outageUntold: outage.length > 0 && ['held', 'skipped'].includes(String(outage[0]!.state)),
              status: row.status,
              heldBy: row.heldBy ?? '?',
              checkStatus: checks[0] ? String(checks[0].status ?? 'online') : null,
              changedSince: later.length > 0,
              windowNow: activeWindow(await maintenanceWindows(c, row.check.id, timeout), row.check.id, now),
            });
            const detail = clip(decision.detail, 1024);
            if (decision.result === 'extended') {
              await c.query({ sql: "UPDATE bearmon_notifications SET next_attempt_at = ?, held_by = ?, outcome = ? WHERE id = ? AND state = 'held'", timeout }, [
                decision.until,
                decision.name,
                detail,
                row.id,
              ]);
            } else if (decision.result === 'released') {
              await c.query({ sql: "UPDATE bearmon_notifications SET state = 'pending', next_attempt_at = ?, outcome = ? WHERE id = ? AND state = 'held'", timeout }, [now, detail, row.id]);
            } else {
              await c.query({ sql: "UPDATE bearmon_notifications SET state = 'skipped', outcome = ?, finished_at = ? WHERE id = ? AND state = 'held'", timeout }, [detail, now, row.id]);
            }
            return decision;
          },
          undefined,
          timeout,
        ),
      ),
  };
}

/** The facts a held partial-outage row is decided on (src/notify/hold.ts). */
async function partialHoldFacts(c: PoolConnection, row: OutboxRow, timeout: number): Promise<NonNullable<HoldFacts['partial']>> {
  const phase = String(row.partial).startsWith('{"phase":"ended"') ? 'ended' : 'began';
  const [later] = await c.query<RowDataPacket[]>(
    { sql: 'SELECT 1 FROM bearmon_notifications WHERE check_id = ? AND partial IS NOT NULL AND transition_at > ? AND transition_key <> ? LIMIT 1', timeout },
    [row.check.id, row.transitionAt, row.transitionKey],
  );
  // The contact's latest start before this end: told only if it was not held or skipped.
  const [start] = await c.query<RowDataPacket[]>(
    {
      sql: `SELECT state FROM bearmon_notifications WHERE check_id = ? AND contact_id = ? AND partial LIKE '{"phase":"began"%' AND transition_at <= ?
            ORDER BY transition_at DESC, id DESC LIMIT 1`,
      timeout,
    },
    [row.check.id, row.contactId, row.transitionAt],
  );
  const startUntold = start.length === 0 || ['held', 'skipped'].includes(String(start[0]!.state));
  return { phase, over: later.length > 0, startUntold };
}
