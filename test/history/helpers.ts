import type { PoolOptions } from 'mysql2/promise';
import { onTestFinished } from 'vitest';
import { createCluster, type Cluster } from '../../src/db/cluster.ts';
import { migrate } from '../../src/db/migrate.ts';
import { captureLogs, type CapturedLogs } from '../helpers/logs.ts';
import { freshDatabase } from '../helpers/mysql.ts';

export type Db = Awaited<ReturnType<typeof freshDatabase>>;

/** gobearmon's DSN form for a test database, optionally through another host:port (a proxy). */
export function dsnOf(db: PoolOptions & { database: string }, via?: { host: string; port: number }): string {
  return `${db.user}:${db.password ?? ''}@tcp(${via?.host ?? db.host ?? '127.0.0.1'}:${via?.port ?? db.port ?? 3306})/${db.database}`;
}

/** A migrated fresh database and a cluster on it (closed after the test). */
export async function historyDatabase(options: { via?: { host: string; port: number }; logs?: CapturedLogs } = {}): Promise<{ db: Db; cluster: Cluster; logs: CapturedLogs }> {
  const db = await freshDatabase();
  await migrate(db);
  const logs = options.logs ?? captureLogs();
  const cluster = createCluster({ dsns: [dsnOf(db, options.via)], log: logs.log, connectTimeoutMs: 1000, queryTimeoutMs: 5000 });
  onTestFinished(() => cluster.close());
  return { db, cluster, logs };
}

/** Counts the statements a cluster runs (each `run` is one statement here). */
export function countingCluster(cluster: Cluster): Cluster & { statements: string[] } {
  const statements: string[] = [];
  return {
    queryTimeoutMs: cluster.queryTimeoutMs,
    close: () => cluster.close(),
    statements,
    run: (work) =>
      cluster.run((pool) => {
        const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
        const spy = new Proxy(pool, {
          get(target, prop, receiver) {
            if (prop !== 'query') return Reflect.get(target, prop, receiver);
            return (...args: unknown[]) => {
              const first = args[0] as string | { sql: string };
              statements.push(typeof first === 'string' ? first : first.sql);
              return query(...args);
            };
          },
        });
        return work(spy);
      }),
  };
}
