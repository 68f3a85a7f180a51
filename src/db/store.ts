import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { CheckRegistry } from '../checks/registry.ts';
import type { Logger } from '../log.ts';
import { judgeCheckRow, type CheckStatus, type LoadedCheck, type MisconfiguredCheck } from './check-rows.ts';
import { createCluster, type Cluster, type ClusterOptions } from './cluster.ts';
import { CheckMissingError, errorMessage, InvalidRequestError, isConnectionError } from './errors.ts';
import { insertOwedNotifications, type OweOptions } from './outbox.ts';
import { partialProblem, type PartialOutage } from '../notify/partial.ts';
import { checkFence, inTransaction, withPooledConnection } from './sql.ts';

export type { CheckStatus, LoadedCheck, MisconfiguredCheck } from './check-rows.ts';

/**
 * A status change the controller decided, to be recorded in `checks` and `check_events`;
 * or, with `partial`, a partial outage that began or ended (recorded only by its key and
 * the notifications it owes: the check's status keeps gobearmon's meaning).
 */
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
  /**
   * A partial outage (issue 17): `down` regions see the check offline, `up` regions online.
   * `to` is then 'offline' for 'began' and 'online' for 'ended'. Keys look like
   * `partial:<checkId>:<ms>:began`. Only `partial` alerts are told; never superseded.
   */
  partial?: PartialOutage;
}

/**
 * `superseded`: not written because it would move the check backwards — MySQL already
 * holds a later transition of the check, or the check is already in that state by its last
 * event (a transition a successor re-derived differently from the one recorded).
 */
export type TransitionOutcome = 'written' | 'already-written' | 'superseded';

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
  /** How owed notifications are scheduled (storm grouping's wait). */
  owe?: OweOptions;
}

/** ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK: worth retrying the transaction, not dropping the notifications. */
const TRANSIENT_ERRNOS = new Set([1205, 1213]);

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
    (row.min_regions ?? 1) === before.minRegions &&
    (status === 'online' || status === 'offline');
  return same ? { ...before, status } : undefined;
}

/** Bytes (UTF-8) of bearmon_transitions.transition_key. */
export const TRANSITION_KEY_MAX = 128;

const LOAD_CHECKS = 'SELECT id, name, type, data, check_interval, delay, min_regions, status FROM checks WHERE enabled = 1 ORDER BY id';
/** Before schema 9 (`bearmon db migrate`) there is no min_regions: every check then needs one region, gobearmon's rule. */
const LOAD_CHECKS_BEFORE_REGIONS = LOAD_CHECKS.replace(' min_regions,', '');

/**
 * The controller's view of MySQL, over one small pool per DSN. Every row read is untrusted
 * (the front-end writes them); every write is a single idempotent transaction.
 */
export function createStore(options: StoreOptions): Store {
  const cluster = createCluster(options);
  const timeout = cluster.queryTimeoutMs;

  async function loadChecks(known?: ReadonlyMap<number, LoadedCheck>): Promise<LoadedChecks> {
    const rows = await cluster.run((pool) =>
      withPooledConnection(pool, async (connection) => {
        const load = async (sql: string) => (await connection.query<RowDataPacket[]>({ sql, timeout }))[0];
        // ER_BAD_FIELD_ERROR: a database not migrated yet; its rows are read without the column.
        return load(LOAD_CHECKS).catch((err) => ((err as { errno?: unknown }).errno === 1054 ? load(LOAD_CHECKS_BEFORE_REGIONS) : Promise.reject(err)));
      }),
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
    if (transition.partial !== undefined) {
      const problem = partialProblem(transition.partial);
      const direction = transition.partial.phase === 'began' ? 'offline' : 'online';
      if (problem !== null) return Promise.reject(new InvalidRequestError(`partial: ${problem}`));
      if (transition.to !== direction) return Promise.reject(new InvalidRequestError(`a partial outage that ${transition.partial.phase} goes to ${direction}, not ${transition.to}`));
    }
    return cluster.run(async (pool) => {
      const written = await inTransaction(pool, (connection) => writeTransition(connection, transition, timeout, options.owe), (w) => w !== 'superseded', timeout);
      if (!written) return 'already-written';
      if (written === 'superseded') return 'superseded';
      if (written.outboxError !== undefined) options.onOutboxError?.(transition, written.outboxError);
      return 'written';
    });
  }

  return { loadChecks, recordTransition, cluster, close: () => cluster.close() };
}

/**
 * A transition must never move a check backwards: one older than the check's last
 * recorded event (a write dropped earlier and re-derived at a take-over), or one into the
 * state the check is already in by its status and last event (a successor that derived the
 * same change with another deciding result). The check row is locked first, so two
 * writers of one check take turns. Times compare in whole seconds, check_events' precision.
 */
async function isSuperseded(connection: PoolConnection, t: Transition, timeout: number): Promise<boolean> {
  const [rows] = await connection.query<RowDataPacket[]>({ sql: 'SELECT status FROM checks WHERE id = ? FOR UPDATE', timeout }, [t.checkId]);
  if (rows.length === 0) return false; // the update below reports the missing check
  const [events] = await connection.query<RowDataPacket[]>(
    // An event dated ahead of MySQL's clock (written before times were bounded, or by hand)
    // must not make every later transition look older than it: it does not count here.
    { sql: 'SELECT type, UNIX_TIMESTAMP(time) AS at FROM check_events WHERE check_id = ? AND time <= NOW() + INTERVAL 5 MINUTE ORDER BY time DESC, id DESC LIMIT 1', timeout },
    [t.checkId],
  );
  const last = events[0];
  if (!last) return false;
  const olderThanLast = Number(last.at) > Math.floor(t.at.getTime() / 1000);
  const alreadyThere = rows[0]!.status === t.to && last.type === t.to;
  return olderThanLast || alreadyThere;
}

/**
 * Inserts the owed notifications behind a savepoint. An SQL error there (a row the outbox
 * cannot hold) must not cost the transition itself, which is what the monitor exists to
 * record: that part is rolled back and its error returned, to be reported after the commit.
 * A lost connection still fails the whole transaction (it is retried whole).
 */
async function owe(connection: PoolConnection, t: Transition, timeout: number, options?: OweOptions): Promise<string | undefined> {
  await connection.query({ sql: 'SAVEPOINT owed_notifications', timeout });
  try {
    await insertOwedNotifications(connection, t, timeout, options);
  } catch (err) {
    // A lost connection, a lock wait timeout or a deadlock pass: the whole transaction is retried.
    if (isConnectionError(err) || TRANSIENT_ERRNOS.has(Number((err as { errno?: unknown }).errno))) throw err;
    await connection.query({ sql: 'ROLLBACK TO SAVEPOINT owed_notifications', timeout });
    return errorMessage(err);
  }
  return undefined;
}

/**
 * The key row goes first: a second writer with the same key waits on its lock and then
 * finds it taken, so two writes of one transition can never both insert an event.
 */
async function writeTransition(connection: PoolConnection, t: Transition, timeout: number, oweOptions?: OweOptions): Promise<{ outboxError?: string } | 'superseded' | null> {
  if (t.view !== undefined) await checkFence(connection, t.view, timeout);
  try {
    await connection.query({ sql: 'INSERT INTO bearmon_transitions (transition_key, check_id) VALUES (?, ?)', timeout }, [t.key, t.checkId]);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ER_DUP_ENTRY') return null;
    throw err;
  }
  if (t.partial) {
    // A partial outage changes no status and no event: it only owes its notifications.
    const [checks] = await connection.query<RowDataPacket[]>({ sql: 'SELECT 1 FROM checks WHERE id = ?', timeout }, [t.checkId]);
    if (checks.length === 0) throw new CheckMissingError(t.checkId);
    return { outboxError: await owe(connection, t, timeout, oweOptions) };
  }
  if (await isSuperseded(connection, t, timeout)) return 'superseded';
  const [update] = await connection.query<ResultSetHeader>({ sql: 'UPDATE checks SET status = ? WHERE id = ?', timeout }, [t.to, t.checkId]);
  // mysql2 connects with FOUND_ROWS, so affectedRows counts matched rows, changed or not.
  if (update.affectedRows === 0) throw new CheckMissingError(t.checkId);
  await connection.query({ sql: 'INSERT INTO check_events (check_id, type, time) VALUES (?, ?, ?)', timeout }, [t.checkId, t.to, t.at]);
  // The notifications it owes are part of the same commit: a recorded transition always has them.
  return { outboxError: await owe(connection, t, timeout, oweOptions) };
}
