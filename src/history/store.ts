/**
 * The rollup tables in MySQL (install.sql: bearmon_history_fine, bearmon_history_hourly).
 * One row per (check, bucket, worker), primary key in that order: a check's series is one
 * range of the key. There is no index on time alone (it would cost a third more per row):
 * deleting by time goes through the key, check by check (`check_id IN (…) AND
 * bucket_start < ?` is a range per check).
 */
import mysql, { type Pool, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { Cluster } from '../db/cluster.ts';
import { HISTOGRAM_COLUMNS, RESOLUTIONS, type Resolution, type Rollup } from './buckets.ts';

export type HistoryCluster = Pick<Cluster, 'run' | 'queryTimeoutMs'>;

/** Worker ids as the bus allows them (src/bus/messages.ts); anything else never reaches SQL. */
export const WORKER_ID = /^[A-Za-z0-9_-]{1,64}$/;

const COLUMNS = ['check_id', 'bucket_start', 'worker', 'runs', 'failures', 'errors', 'latency_count', 'latency_sum_ms', 'latency_min_ms', 'latency_max_ms', ...HISTOGRAM_COLUMNS];

const ADDED = ['runs', 'failures', 'errors', 'latency_count', 'latency_sum_ms', ...HISTOGRAM_COLUMNS];
/** What a second write of the same row does: counts add up, min and max widen (NULL: none yet). */
const ON_DUPLICATE = [
  ...ADDED.map((c) => `${c} = ${c} + VALUES(${c})`),
  'latency_min_ms = LEAST(COALESCE(latency_min_ms, VALUES(latency_min_ms)), COALESCE(VALUES(latency_min_ms), latency_min_ms))',
  'latency_max_ms = GREATEST(COALESCE(latency_max_ms, VALUES(latency_max_ms)), COALESCE(VALUES(latency_max_ms), latency_max_ms))',
].join(', ');

/** 'YYYY-MM-DD HH:MM:SS' in UTC: what a DATETIME column stores (sessions run in UTC). */
export function sqlTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

const integer = (n: number) => String(Math.max(0, Math.round(n)));
const nullable = (n: number | null) => (n === null ? 'NULL' : integer(n));

/**
 * One multi-row upsert. Built as text (numbers from our own arithmetic, the worker id
 * checked and escaped) rather than with placeholders: this runs every few seconds with
 * thousands of values, and the controller's CPU is the budget (bench/history.ts).
 */
export function upsertSql(resolution: Resolution, rows: readonly Rollup[]): string {
  if (rows.length === 0) throw new Error('upsertSql: no rows');
  const values = rows.map((r) => {
    if (!WORKER_ID.test(r.worker)) throw new Error(`history row: worker: expected a worker id (value ${JSON.stringify(r.worker)})`);
    if (!Number.isSafeInteger(r.checkId) || r.checkId <= 0) throw new Error(`history row: checkId: expected a positive integer (value ${r.checkId})`);
    return `(${r.checkId},'${sqlTime(r.bucketStart)}',${mysql.escape(r.worker)},${integer(r.runs)},${integer(r.failures)},${integer(r.errors)},${integer(r.latencyCount)},${integer(r.latencySumMs)},${nullable(r.latencyMinMs)},${nullable(r.latencyMaxMs)},${r.histogram.map(integer).join(',')})`;
  });
  return `INSERT INTO ${RESOLUTIONS[resolution].table} (${COLUMNS.join(',')}) VALUES ${values.join(',')} ON DUPLICATE KEY UPDATE ${ON_DUPLICATE}`;
}

export async function upsertRollups(cluster: HistoryCluster, resolution: Resolution, rows: readonly Rollup[]): Promise<void> {
  if (rows.length === 0) return;
  const sql = upsertSql(resolution, rows);
  await cluster.run((pool) => pool.query({ sql, timeout: cluster.queryTimeoutMs }));
}

/** Check ids with rows in a table: the first key column, read off the index. */
async function checkIdsOf(pool: Pool, resolution: Resolution, timeout: number): Promise<number[]> {
  const [rows] = await pool.query<RowDataPacket[]>({ sql: `SELECT DISTINCT check_id FROM ${RESOLUTIONS[resolution].table}`, timeout });
  return rows.map((r) => Number(r.check_id));
}

/** Check ids per DELETE: a range per check in one statement. */
const DELETE_CHECKS_PER_STATEMENT = 500;

/**
 * Deletes the rows whose bucket starts in [from, to) (from undefined: everything before
 * `to`), a few hundred checks per statement so no statement holds locks for long.
 * `stopped` ends it between statements (a stopping controller). Returns rows deleted.
 */
export async function deleteBuckets(
  cluster: HistoryCluster,
  resolution: Resolution,
  range: { from?: number; to: number },
  stopped: () => boolean = () => false,
): Promise<number> {
  const table = RESOLUTIONS[resolution].table;
  const timeout = cluster.queryTimeoutMs;
  const ids = await cluster.run((pool) => checkIdsOf(pool, resolution, timeout));
  let deleted = 0;
  for (let i = 0; i < ids.length && !stopped(); i += DELETE_CHECKS_PER_STATEMENT) {
    const chunk = ids.slice(i, i + DELETE_CHECKS_PER_STATEMENT);
    const timeRange = range.from === undefined ? 'bucket_start < ?' : 'bucket_start >= ? AND bucket_start < ?';
    const args = range.from === undefined ? [sqlTime(range.to)] : [sqlTime(range.from), sqlTime(range.to)];
    const [result] = await cluster.run((pool) => pool.query<ResultSetHeader>({ sql: `DELETE FROM ${table} WHERE check_id IN (${chunk.join(',')}) AND ${timeRange}`, timeout }, args));
    deleted += result.affectedRows;
  }
  return deleted;
}

/** Every row of a table in key order (tests and the rebuild's comparisons). */
export async function readRollups(cluster: HistoryCluster, resolution: Resolution, where = '1 = 1', args: unknown[] = []): Promise<Rollup[]> {
  const [rows] = await cluster.run((pool) =>
    pool.query<RowDataPacket[]>({ sql: `SELECT * FROM ${RESOLUTIONS[resolution].table} WHERE ${where} ORDER BY check_id, bucket_start, worker`, timeout: cluster.queryTimeoutMs }, args),
  );
  return rows.map(rollupOfRow);
}

/** A row as read back (DATETIME comes back as a Date in UTC: the pool's timezone is 'Z'). */
export function rollupOfRow(row: RowDataPacket): Rollup {
  const time = row.bucket_start instanceof Date ? row.bucket_start.getTime() : Date.parse(`${String(row.bucket_start).replace(' ', 'T')}Z`);
  return {
    checkId: Number(row.check_id),
    worker: String(row.worker),
    bucketStart: time,
    runs: Number(row.runs),
    failures: Number(row.failures),
    errors: Number(row.errors),
    latencyCount: Number(row.latency_count),
    latencySumMs: Number(row.latency_sum_ms),
    latencyMinMs: row.latency_min_ms === null ? null : Number(row.latency_min_ms),
    latencyMaxMs: row.latency_max_ms === null ? null : Number(row.latency_max_ms),
    histogram: HISTOGRAM_COLUMNS.map((c) => Number(row[c])),
  };
}
