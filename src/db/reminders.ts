import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { reminderKey } from '../notify/reminders.ts';
import type { Cluster } from './cluster.ts';
import { activeWindow } from '../maintenance/windows.ts';
import { maintenanceWindows, type Claimant } from './outbox.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';

/** An offline notification of an outage still going on, whose alert asks for reminders. */
export interface ReminderCandidate {
  /** The outbox row of the offline transition's notification (reminders copy it). */
  notificationId: number;
  transitionKey: string;
  checkId: number;
  contactId: number;
  offlineSince: Date;
  /** alerts.remind_every (seconds) and remind_max, as stored (untrusted: judged by dueReminders). */
  everySeconds: number;
  max: number;
  /** Highest reminder slot already in the outbox for it (0: none). */
  queued: number;
}

export interface ReminderStore {
  candidates(limit: number): Promise<ReminderCandidate[]>;
  /**
   * Inserts reminder `slot` as its own outbox row, due at `at`. False when it was already
   * there (another controller queued it), the outage ended meanwhile, or a maintenance
   * window covers the check at `at` (planned work reminds nobody; after the window the
   * latest slot reached is queued, not the ones missed). Fenced by view.
   */
  queue(candidate: ReminderCandidate, slot: number, who: Claimant, at: Date): Promise<boolean>;
}

/**
 * The outage of row n is still going on: the check is offline, no later notification of the
 * check was owed (a recovery, or a newer outage), and no online event came after it (a
 * recovery that owed nobody a notification). Held or skipped rows (maintenance) remind nobody.
 * Partial outage rows (issue 17) neither remind nor count as later notifications: they say
 * nothing about the check's status.
 */
const CURRENT_OUTAGE = `c.status = 'offline' AND c.enabled = 1 AND n.status = 'offline' AND n.reminder IS NULL AND n.partial IS NULL
  AND n.state NOT IN ('held', 'skipped')
  AND NOT EXISTS (SELECT 1 FROM bearmon_notifications m WHERE m.check_id = n.check_id AND m.reminder IS NULL AND m.partial IS NULL AND m.transition_at > n.transition_at)
  AND NOT EXISTS (SELECT 1 FROM check_events e WHERE e.check_id = n.check_id AND e.type = 'online' AND e.time > n.transition_at)`;

export function createReminderStore(cluster: Cluster): ReminderStore {
  const timeout = cluster.queryTimeoutMs;
  return {
    candidates: async (limit) => {
      const rows = await cluster.run((pool) =>
        withPooledConnection(pool, async (conn) => {
          const [found] = await conn.query<RowDataPacket[]>(
            {
              sql: `SELECT n.id, n.transition_key, n.check_id, n.contact_id, n.transition_at, a.remind_every, a.remind_max,
                      (SELECT COALESCE(MAX(r.reminder), 0) FROM bearmon_notifications r
                        WHERE r.transition_key = n.transition_key AND r.contact_id = n.contact_id AND r.reminder IS NOT NULL) AS queued
                    FROM bearmon_notifications n
                    JOIN alerts a ON a.id = n.alert_id
                    JOIN checks c ON c.id = n.check_id
                    WHERE a.enabled = 1 AND a.remind_every > 0 AND a.remind_max > 0 AND ${CURRENT_OUTAGE}
                    ORDER BY n.id LIMIT ?`,
              timeout,
            },
            [limit],
          );
          return found;
        }),
      );
      return rows.map((r) => ({
        notificationId: Number(r.id),
        transitionKey: Buffer.isBuffer(r.transition_key) ? r.transition_key.toString('utf8') : String(r.transition_key),
        checkId: Number(r.check_id),
        contactId: Number(r.contact_id),
        offlineSince: r.transition_at as Date,
        everySeconds: Number(r.remind_every),
        max: Number(r.remind_max),
        queued: Number(r.queued),
      }));
    },
    queue: async (candidate, slot, who, at) =>
      (await cluster.run((pool) =>
        inTransaction(
          pool,
          async (conn) => {
            await checkFence(conn, who.view, timeout);
            const key = reminderKey(candidate.transitionKey, slot, candidate.contactId);
            // The fence row stays locked until this transaction ends, so two controllers queueing
            // the same slot take turns: the second finds it here. The unique key backs that up.
            const [existing] = await conn.query<RowDataPacket[]>({ sql: 'SELECT 1 FROM bearmon_notifications WHERE notification_key = ?', timeout }, [key]);
            if (existing.length > 0) return false;
            if (activeWindow(await maintenanceWindows(conn, candidate.checkId, timeout), candidate.checkId, at)) return false;
            // INSERT … SELECT reads the check row with a shared lock: a recovery being recorded
            // (which locks it FOR UPDATE) either commits first, and nothing is queued, or after.
            try {
              const [insert] = await conn.query<ResultSetHeader>(
                {
                  sql: `INSERT INTO bearmon_notifications (notification_key, transition_key, check_id, alert_id, contact_id, contact_type, contact_data,
                          check_name, check_type, check_data, status, message, workers, transition_at, next_attempt_at, reminder, offline_since)
                        SELECT ?, n.transition_key, n.check_id, n.alert_id, n.contact_id, n.contact_type, n.contact_data,
                          n.check_name, n.check_type, n.check_data, 'offline', n.message, n.workers, ?, ?, ?, n.transition_at
                        FROM bearmon_notifications n JOIN checks c ON c.id = n.check_id
                        WHERE n.id = ? AND ${CURRENT_OUTAGE}`,
                  timeout,
                },
                [key, at, at, slot, candidate.notificationId],
              );
              // 0: the outage ended meanwhile.
              return insert.affectedRows === 1;
            } catch (err) {
              if ((err as { code?: unknown }).code === 'ER_DUP_ENTRY') return false;
              throw err;
            }
          },
          undefined,
          timeout,
        ),
      )) === true,
  };
}
