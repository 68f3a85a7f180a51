import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { CheckRegistry } from '../checks/registry.ts';
import type { Logger } from '../log.ts';
import { judgeCheckRow, type CheckStatus, type LoadedCheck, type MisconfiguredCheck } from './check-rows.ts';
import { createCluster, type Cluster, type ClusterOptions } from './cluster.ts';
import { CheckMissingError, errorMessage, InvalidRequestError, isConnectionError } from './errors.ts';
import { insertOwedNotifications } from './outbox.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';

export type { CheckStatus, LoadedCheck, MisconfiguredCheck } from './check-rows.ts';

/** A status change the controller decided, to be recorded in `checks` and `check_events`. */
export interface Transition {
  checkId: number;
  to: CheckStatus;
  at: Date;
  /**
   * Names this transition uniquely (e.g. its event id in the result log): a retried write
   * with the same key is recognised and changes nothing.
   */
  key: string;
  /** View number of the controller writing it; a write from an older view than the database has seen is refused. */
  view?: number;
  /** The message of the result that completed the change (notifications quote it). */
  message?: string;
  /** Workers whose results confirmed the change. */
  workers?: string[];
}

export type TransitionOutcome = 'written' | 'already-written';

export interface LoadedChecks {
  checks: LoadedCheck[];
  misconfigured: MisconfiguredCheck[];
}

export interface Store {
  /**
   * Enabled checks; rows that cannot be monitored come back apart, never thrown. Rows
   * identical to one in `known` (already validated, e.g. the controller's current checks)
   * are not validated again: a reload of 100,000 unchanged checks costs no zod parse.
   */
  loadChecks(known?: ReadonlyMap<number, LoadedCheck>): Promise<LoadedChecks>;
  recordTransition(transition: Transition): Promise<TransitionOutcome>;
  /** The pools behind this store, for other tables' code (the notification outbox). */
  readonly cluster: Cluster;
  close(): Promise<void>;
}

export interface StoreOptions extends ClusterOptions {
  registry: CheckRegistry;
  /** A transition was recorded but the notifications it owes could not be (the admin must hear of it). */
  onOutboxError?: (transition: Transition, error: string) => void;
}

/** Rows judged between two yields to the event loop. */
const JUDGE_BATCH = 2_000;

/** The known check when the row has exactly its values (its status may differ, and must be valid). */
function sameAsKnown(row: RowDataPacket, known?: ReadonlyMap<number, LoadedCheck>): LoadedCheck | undefined {
  const before = typeof row.id === 'number' ? known?.get(row.id) : undefined;
  if (!before) return undefined;
  const status = row.status ?? 'online';
  const same =
    row.name === before.name &&
    row.type === before.type &&
    row.data === before.data &&
    (row.check_interval ?? 60) === before.interval &&
    (row.delay ?? 1) === before.delay &&
    (status === 'online' || status === 'offline');
  return same ? { ...before, status } : undefined;
}

/** Bytes (UTF-8) of bearmon_transitions.transition_key. */
export const TRANSITION_KEY_MAX = 128;

const LOAD_CHECKS = 'SELECT id, name, type, data, check_interval, delay, status FROM checks WHERE enabled = 1 ORDER BY id';

/**
 * The controller's view of MySQL, over one small pool per DSN. Every row read is untrusted
 * (the front-end writes them); every write is a single idempotent transaction.
 */
export function createStore(options: StoreOptions): Store {
  const cluster = createCluster(options);
  const timeout = cluster.queryTimeoutMs;

  async function loadChecks(known?: ReadonlyMap<number, LoadedCheck>): Promise<LoadedChecks> {
    const rows = await cluster.run((pool) =>
      withPooledConnection(pool, async (connection) => (await connection.query<RowDataPacket[]>({ sql: LOAD_CHECKS, timeout }))[0]),
    );
    const result: LoadedChecks = { checks: [], misconfigured: [] };
    for (let i = 0; i < rows.length; i++) {
      // Judging is CPU work: let timers and messages through now and then.
      if (i > 0 && i % JUDGE_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
      const row = rows[i]!;
      const same = sameAsKnown(row, known);
      if (same) {
        result.checks.push(same);
        continue;
      }
      const verdict = judgeCheckRow(options.registry, row);
      if (verdict.ok) result.checks.push(verdict.check);
      else result.misconfigured.push(verdict.misconfigured);
    }
    return result;
  }

  function recordTransition(transition: Transition): Promise<TransitionOutcome> {
    const bytes = Buffer.byteLength(transition.key);
    if (bytes === 0 || bytes > TRANSITION_KEY_MAX) {
      // A truncated key could collide with another transition's: refuse rather than store it.
      return Promise.reject(new InvalidRequestError(`transition key must have 1..${TRANSITION_KEY_MAX} bytes (got ${bytes})`));
    }
    return cluster.run(async (pool) => {
      const written = await inTransaction(pool, (connection) => writeTransition(connection, transition, timeout));
      if (!written) return 'already-written';
      if (written.outboxError !== undefined) options.onOutboxError?.(transition, written.outboxError);
      return 'written';
    });
  }

  return { loadChecks, recordTransition, cluster, close: () => cluster.close() };
}

/**
 * Inserts the owed notifications behind a savepoint. An SQL error there (a row the outbox
 * cannot hold) must not cost the transition itself, which is what the monitor exists to
 * record: that part is rolled back and its error returned, to be reported after the commit.
 * A lost connection still fails the whole transaction (it is retried whole).
 */
async function owe(connection: PoolConnection, t: Transition, timeout: number): Promise<string | undefined> {
  await connection.query({ sql: 'SAVEPOINT owed_notifications', timeout });
  try {
    await insertOwedNotifications(connection, t, timeout);
  } catch (err) {
    if (isConnectionError(err)) throw err;
    await connection.query({ sql: 'ROLLBACK TO SAVEPOINT owed_notifications', timeout });
    return errorMessage(err);
  }
  return undefined;
}

/**
 * The key row goes first: a second writer with the same key waits on its lock and then
 * finds it taken, so two writes of one transition can never both insert an event.
 */
async function writeTransition(connection: PoolConnection, t: Transition, timeout: number): Promise<{ outboxError?: string } | null> {
  if (t.view !== undefined) await checkFence(connection, t.view, timeout);
  try {
    await connection.query({ sql: 'INSERT INTO bearmon_transitions (transition_key, check_id) VALUES (?, ?)', timeout }, [t.key, t.checkId]);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ER_DUP_ENTRY') return null;
    throw err;
  }
  const [update] = await connection.query<ResultSetHeader>({ sql: 'UPDATE checks SET status = ? WHERE id = ?', timeout }, [t.to, t.checkId]);
  // mysql2 connects with FOUND_ROWS, so affectedRows counts matched rows, changed or not.
  if (update.affectedRows === 0) throw new CheckMissingError(t.checkId);
  await connection.query({ sql: 'INSERT INTO check_events (check_id, type, time) VALUES (?, ?, ?)', timeout }, [t.checkId, t.to, t.at]);
  // The notifications it owes are part of the same commit: a recorded transition always has them.
  return { outboxError: await owe(connection, t, timeout) };
}
