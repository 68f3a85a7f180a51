import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import type { Logger } from '../log.ts';
import { redactDsn } from '../redact.ts';
import { parseDsn } from './dsn.ts';
import { DatabaseUnreachableError, errorMessage, isConnectionError } from './errors.ts';

export interface ClusterOptions {
  /** gobearmon's repeatable `database =` lines: the same data reachable through several servers. */
  dsns: readonly string[];
  log: Logger;
  /** Connections per DSN; the controller issues few queries, one at a time. */
  connectionLimit?: number;
  /** Used when the DSN sets no `timeout=`. */
  connectTimeoutMs?: number;
  /** A server that accepts the connection but never answers must not hang the caller. */
  queryTimeoutMs?: number;
}

interface Member {
  database: string;
  pool: Pool;
  down: boolean;
}

/** Several DSNs for the same data: a connection failure on one is retried on the next. */
export interface Cluster {
  readonly queryTimeoutMs: number;
  run<T>(work: (pool: Pool) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function createCluster(options: ClusterOptions): Cluster {
  if (options.dsns.length === 0) throw new Error('no database configured ([controller] database)');
  const members = options.dsns.map((dsn) => ({ database: redactDsn(dsn), pool: createPool(dsn, options), down: false }));
  // Start with the member that answered last, so a dead first DSN does not cost every
  // query a failed connection attempt.
  let preferred = 0;

  async function run<T>(work: (pool: Pool) => Promise<T>): Promise<T> {
    const failures: { database: string; error: string }[] = [];
    for (const index of tryOrder(members.length, preferred)) {
      const member = members[index]!;
      try {
        const result = await work(member.pool);
        markUp(member, options.log);
        preferred = index;
        return result;
      } catch (err) {
        if (!isConnectionError(err)) {
          markUp(member, options.log); // it answered, if only with an SQL error
          throw err;
        }
        markDown(member, err, options.log);
        failures.push({ database: member.database, error: errorMessage(err) });
      }
    }
    throw new DatabaseUnreachableError(failures);
  }

  return {
    queryTimeoutMs: options.queryTimeoutMs ?? 10_000,
    run,
    close: async () => {
      await Promise.all(members.map((m) => m.pool.end().catch(() => {})));
    },
  };
}

function createPool(dsn: string, options: ClusterOptions): Pool {
  let parsed: PoolOptions;
  try {
    parsed = parseDsn(dsn);
  } catch (err) {
    // The message shows the DSN with its password masked; say which setting it came from.
    throw new Error(`[controller] database: ${(err as Error).message}`);
  }
  const poolOptions: PoolOptions = {
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    ...parsed,
    connectionLimit: options.connectionLimit ?? 4,
    maxIdle: 1,
    idleTimeout: 60_000,
    enableKeepAlive: true,
    // Dates travel as UTC, and every session works in UTC (below), so check_events.time
    // means the same instant whatever the server's or this host's time zone.
    timezone: 'Z',
  };
  const pool = mysql.createPool(poolOptions);
  pool.pool.on('connection', (connection) => {
    // An idle connection that dies emits 'error'; commands in flight get it through their
    // own callbacks, so this listener only keeps an unobserved one from crashing the process.
    connection.on('error', () => {});
    connection.query("SET time_zone = '+00:00'", () => {});
  });
  return pool;
}

function tryOrder(count: number, first: number): number[] {
  return Array.from({ length: count }, (_, i) => (first + i) % count);
}

/** Logged once per outage of a member, not once per failed query. */
function markDown(member: Member, err: unknown, log: Logger): void {
  if (member.down) return;
  member.down = true;
  log.warn({ database: member.database, error: errorMessage(err) }, 'database unreachable; trying the others');
}

function markUp(member: Member, log: Logger): void {
  if (!member.down) return;
  member.down = false;
  log.info({ database: member.database }, 'database reachable again');
}
