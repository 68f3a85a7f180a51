/**
 * A throw-away MariaDB database for a benchmark, named bearmon_bench_<random>, created
 * through the local `bearmon` user (scripts/ensure-env.sh makes it), migrated to the
 * current schema, and dropped by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import mysql, { type PoolOptions } from 'mysql2/promise';
import { parseDsn } from '../src/db/dsn.ts';
import { migrate } from '../src/db/migrate.ts';

const SERVER_DSN = 'bearmon:bearmon@tcp(127.0.0.1:3306)/bearmon';
/** Rows per INSERT: large enough to load 100,000 checks in seconds, well under max_allowed_packet. */
const INSERT_BATCH = 5_000;

export interface BenchCheck {
  name: string;
  type: string;
  data: string;
  interval: number;
  delay: number;
  /** `checks.min_regions` (absent: the column's default, 1). */
  minRegions?: number;
}

export interface BenchDatabase {
  /** go-sql-driver form, as the controller's configuration gives it. */
  dsn: string;
  options: PoolOptions & { database: string };
  /** Replaces every row of `checks` with these (ids from 1, in order). */
  replaceChecks(checks: Iterable<BenchCheck>): Promise<void>;
  /** Adds these rows to `checks`. */
  addChecks(checks: Iterable<BenchCheck>): Promise<void>;
  drop(): Promise<void>;
}

async function insertChecks(connection: mysql.Connection, checks: Iterable<BenchCheck>): Promise<void> {
  let batch: unknown[][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await connection.query('INSERT INTO checks (name, type, data, check_interval, delay, min_regions) VALUES ?', [batch]);
    batch = [];
  };
  for (const c of checks) {
    batch.push([c.name, c.type, c.data, c.interval, c.delay, c.minRegions ?? 1]);
    if (batch.length >= INSERT_BATCH) await flush();
  }
  await flush();
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const database = `bearmon_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const server = parseDsn(SERVER_DSN);
  const options = { ...server, database };
  await migrate(options);
  const withConnection = async <T>(work: (c: mysql.Connection) => Promise<T>): Promise<T> => {
    const connection = await mysql.createConnection(options);
    try {
      return await work(connection);
    } finally {
      await connection.end();
    }
  };
  return {
    dsn: `${server.user}:${server.password}@tcp(${server.host}:${server.port})/${database}`,
    options,
    replaceChecks: (checks) =>
      withConnection(async (connection) => {
        // TRUNCATE also restarts AUTO_INCREMENT, so ids are 1..n in every phase.
        await connection.query('TRUNCATE TABLE checks');
        await insertChecks(connection, checks);
      }),
    addChecks: (checks) => withConnection((connection) => insertChecks(connection, checks)),
    drop: async () => {
      const connection = await mysql.createConnection({ ...server, database: undefined });
      try {
        await connection.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database)}`);
      } finally {
        await connection.end();
      }
    },
  };
}
