import { randomBytes } from 'node:crypto';
import mysql, { type PoolOptions } from 'mysql2/promise';
import { onTestFinished } from 'vitest';
import { parseDsn } from '../../src/db/dsn.ts';

/**
 * The server tests use: scripts/ensure-env.sh guarantees the local `bearmon` user.
 * BEARMON_TEST_MYSQL (a DSN naming any database) points the suite elsewhere.
 */
export function testServerOptions(): PoolOptions {
  return parseDsn(process.env.BEARMON_TEST_MYSQL ?? 'bearmon:bearmon@tcp(127.0.0.1:3306)/bearmon');
}

/** Creates an empty database with a unique name, dropped when the test finishes. */
export async function freshDatabase(): Promise<PoolOptions & { database: string }> {
  const database = `bearmon_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const options = { ...testServerOptions(), database: undefined };
  const admin = await mysql.createConnection(options);
  await admin.query(`CREATE DATABASE ${mysql.escapeId(database)}`);
  await admin.end();
  onTestFinished(async () => {
    const conn = await mysql.createConnection(options);
    await conn.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(database)}`);
    await conn.end();
  });
  return { ...options, database };
}

export async function withConnection<T>(options: PoolOptions, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await mysql.createConnection({ ...options, multipleStatements: true });
  try {
    return await fn(connection);
  } finally {
    await connection.end();
  }
}
