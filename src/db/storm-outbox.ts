/**
 * The outbox's side of storm grouping: the rows one grouped message carries are claimed,
 * started and recorded together, each statement over all of them in one transaction, so
 * either every row is on its way in that one message or none is. Each row keeps its own
 * attempt history; `group_key` names the message that carried it (retries and a successor
 * controller send the group again under that same key).
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { clip } from '../text.ts';
import type { Cluster } from './cluster.ts';
import { finishAttempt, ROW_COLUMNS, toOutboxRow, type AttemptRecord, type Claimant, type OutboxRow, type OutboxState } from './outbox.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';

export interface StormOutbox {
  /** Pending first attempts of one contact (no group yet, no reminder, no partial outage) with transitions in [from, to], oldest first. */
  candidates(contactId: number, from: Date, to: Date, limit: number): Promise<OutboxRow[]>;
  /** The pending rows of a grouped message (to send it again). */
  pendingOfGroup(groupKey: string): Promise<OutboxRow[]>;
  /** Claims all rows, or none (null): each pending at its attempts, no row of the group in flight. Fenced by view. */
  claim(rows: readonly OutboxRow[], groupKey: string, who: Claimant, at: Date): Promise<OutboxRow[] | null>;
  /** Marks the send of every row as begun (see Outbox.startSend); false when any was taken over. */
  startSend(rows: readonly OutboxRow[], who: Claimant): Promise<boolean>;
  /** Records the one attempt's outcome on every row; false when any was taken over (then none is changed). */
  record(rows: readonly OutboxRow[], outcome: AttemptRecord): Promise<boolean>;
}

export function createStormOutbox(cluster: Cluster): StormOutbox {
  const timeout = cluster.queryTimeoutMs;
  const select = (sql: string, params: unknown[]) =>
    cluster.run((pool) => withPooledConnection(pool, async (c) => (await c.query<RowDataPacket[]>({ sql, timeout }, params))[0].map(toOutboxRow)));
  return {
    candidates: (contactId, from, to, limit) =>
      select(
        `SELECT ${ROW_COLUMNS} FROM bearmon_notifications
         WHERE state = 'pending' AND attempts = 0 AND group_key IS NULL AND reminder IS NULL AND partial IS NULL AND contact_id = ? AND transition_at BETWEEN ? AND ?
         ORDER BY transition_at, id LIMIT ?`,
        [contactId, from, to, limit],
      ),
    pendingOfGroup: (groupKey) => select(`SELECT ${ROW_COLUMNS} FROM bearmon_notifications WHERE state = 'pending' AND group_key = ? ORDER BY id`, [groupKey]),
    claim: (rows, groupKey, who, at) =>
      cluster.run((pool) =>
        inTransaction(
          pool,
          async (c) => {
            await checkFence(c, who.view, timeout);
            const [busy] = await c.query<RowDataPacket[]>({ sql: "SELECT COUNT(*) AS n FROM bearmon_notifications WHERE group_key = ? AND state = 'sending'", timeout }, [groupKey]);
            if (Number(busy[0]?.n ?? 0) > 0) return null;
            const claimed: OutboxRow[] = [];
            for (const row of rows) {
              const [update] = await c.query<ResultSetHeader>(
                {
                  sql: `UPDATE bearmon_notifications SET state = 'sending', attempts = attempts + 1, claimed_view = ?, claimed_by = ?, claimed_at = NOW(3),
                          send_started_at = NULL, group_key = ?
                        WHERE id = ? AND state = 'pending' AND attempts = ?`,
                  timeout,
                },
                [who.view, who.controller, groupKey, row.id, row.attempts],
              );
              // One row gone elsewhere: the whole claim is rolled back, and the rows are looked at again.
              if (update.affectedRows !== 1) return null;
              const attempt = row.attempts + 1;
              await c.query(
                { sql: 'INSERT INTO bearmon_notification_attempts (notification_id, attempt, view, controller, started_at) VALUES (?, ?, ?, ?, ?)', timeout },
                [row.id, attempt, who.view, who.controller, at],
              );
              claimed.push({ ...row, state: 'sending', attempts: attempt, claimedView: who.view, claimedBy: who.controller, claimedAt: at, sendStartedAt: null, groupKey });
            }
            return claimed;
          },
          undefined,
          timeout,
        ),
      ),
    startSend: async (rows, who) =>
      (await cluster.run((pool) =>
        inTransaction(
          pool,
          async (c) => {
            await checkFence(c, who.view, timeout);
            const [update] = await c.query<ResultSetHeader>(
              {
                sql: `UPDATE bearmon_notifications SET send_started_at = NOW(3)
                      WHERE id IN (?) AND state = 'sending' AND claimed_view = ? AND claimed_by = ? AND send_started_at IS NULL`,
                timeout,
              },
              [rows.map((r) => r.id), who.view, who.controller],
            );
            return update.affectedRows === rows.length ? true : null;
          },
          undefined,
          timeout,
        ),
      )) === true,
    record: async (rows, outcome) =>
      (await cluster.run((pool) =>
        inTransaction(
          pool,
          async (c) => {
            const state: OutboxState = outcome.result === 'retry' ? 'pending' : outcome.result;
            const detail = clip(outcome.detail, 1024);
            for (const row of rows) {
              const [update] = await c.query<ResultSetHeader>(
                {
                  sql: `UPDATE bearmon_notifications SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at), outcome = ?, finished_at = ?
                        WHERE id = ? AND state = 'sending' AND attempts = ?`,
                  timeout,
                },
                [state, outcome.nextAttemptAt ?? null, detail, state === 'pending' ? null : outcome.at, row.id, row.attempts],
              );
              if (update.affectedRows !== 1) return null;
              await finishAttempt(c, row, outcome.result, detail, outcome.at, timeout);
            }
            // One message, one charge: on the first check it carried.
            if (outcome.charge) await c.query({ sql: 'INSERT INTO charges (check_id, type, data) VALUES (?, ?, ?)', timeout }, [rows[0]!.check.id, outcome.charge.type, outcome.charge.sid]);
            return true;
          },
          undefined,
          timeout,
        ),
      )) === true,
  };
}
