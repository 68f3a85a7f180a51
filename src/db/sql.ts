import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { FencedError, isConnectionError } from './errors.ts';

/**
 * Raises the fence to `view` (it never goes down) and refuses the write when a newer view
 * has already written: the row stays locked until the transaction ends, so a newer
 * controller's write and an older one's cannot interleave.
 */
export async function checkFence(connection: PoolConnection, view: number, timeout: number): Promise<void> {
  await connection.query(
    { sql: 'INSERT INTO bearmon_fence (id, view) VALUES (1, ?) ON DUPLICATE KEY UPDATE view = GREATEST(view, VALUES(view))', timeout },
    [view],
  );
  const [rows] = await connection.query<RowDataPacket[]>({ sql: 'SELECT view FROM bearmon_fence WHERE id = 1', timeout });
  const current = Number(rows[0]?.view ?? 0);
  if (current > view) throw new FencedError(view, current);
}

/**
 * Commits when `work` returns a value (that `keep` accepts); rolls back on null, a refused
 * value and any error. The transaction statements carry `timeoutMs` like every query: a
 * server that hangs on COMMIT must not hold the caller (a delivery job, a stop) forever.
 */
export function inTransaction<T>(
  pool: Pool,
  work: (c: PoolConnection) => Promise<T | null>,
  keep: (result: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T | null> {
  const statement = (c: PoolConnection, sql: string) => c.query({ sql, timeout: timeoutMs });
  return withPooledConnection(pool, async (connection) => {
    await statement(connection, 'START TRANSACTION');
    try {
      const result = await work(connection);
      await statement(connection, result !== null && keep(result) ? 'COMMIT' : 'ROLLBACK');
      return result;
    } catch (err) {
      if (!isConnectionError(err)) await statement(connection, 'ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

/**
 * A connection that failed (lost, or timed out with a query possibly still running on the
 * server) is destroyed, never handed to the next caller.
 */
export async function withPooledConnection<T>(pool: Pool, work: (c: PoolConnection) => Promise<T>): Promise<T> {
  const connection = await pool.getConnection();
  let healthy = true;
  try {
    return await work(connection);
  } catch (err) {
    healthy = !isConnectionError(err);
    throw err;
  } finally {
    if (healthy) connection.release();
    else connection.destroy();
  }
}
