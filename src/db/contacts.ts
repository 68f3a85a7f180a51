import type { RowDataPacket } from 'mysql2/promise';
import type { Cluster } from './cluster.ts';

/**
 * One `contacts` row exactly as MySQL returned it. The front-end writes these rows, so
 * nothing is assumed about `type` and `data` (NULL, a number, a Buffer...): judging them
 * is prepareContact's job.
 */
export interface ContactRow {
  id: number;
  type: unknown;
  data: unknown;
}

const READ_CONTACT = 'SELECT id, type, data FROM contacts WHERE id = ?';

/** The contact with this id, or null when there is none. Connection failures try the next DSN. */
export async function readContact(cluster: Cluster, id: number): Promise<ContactRow | null> {
  const rows = await cluster.run(
    async (pool) => (await pool.query<RowDataPacket[]>({ sql: READ_CONTACT, timeout: cluster.queryTimeoutMs }, [id]))[0],
  );
  const row = rows[0];
  if (!row) return null;
  return { id, type: row.type, data: row.data };
}
