import type { RowDataPacket } from 'mysql2/promise';
import { onTestFinished } from 'vitest';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createStore, type Store, type StoreOptions } from '../../src/db/store.ts';
import { captureLogs, type CapturedLogs } from './logs.ts';
import { freshDatabase, withConnection } from './mysql.ts';

export interface MigratedStore {
  db: Awaited<ReturnType<typeof freshDatabase>>;
  /** gobearmon's DSN form of the database (what `[database] dsn` holds). */
  dsn: string;
  logs: CapturedLogs;
  /** The controller's store on it, closed when the test ends. */
  store: Store;
  /** Runs one query on a connection of its own; the rows it returns. */
  sql<T extends RowDataPacket[] = RowDataPacket[]>(query: string, params?: unknown[]): Promise<T>;
}

/** A fresh, migrated database with the controller's store on it: the set-up every outbox test starts from. */
export async function migratedStore(options: Pick<StoreOptions, 'owe'> = {}): Promise<MigratedStore> {
  const db = await freshDatabase();
  await migrate(db);
  const logs = captureLogs();
  const dsn = `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}`;
  const store = createStore({ dsns: [dsn], log: logs.log, registry: createCheckRegistry(), connectTimeoutMs: 2000, ...options });
  onTestFinished(() => store.close());
  const sql = <T extends RowDataPacket[] = RowDataPacket[]>(query: string, params: unknown[] = []) => withConnection(db, async (c) => (await c.query<T>(query, params))[0]);
  return { db, dsn, logs, store, sql };
}
