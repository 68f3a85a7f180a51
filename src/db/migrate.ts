import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import mysql, { type PoolOptions, type RowDataPacket } from 'mysql2/promise';

export const INSTALL_SQL_PATH = fileURLToPath(new URL('../../install.sql', import.meta.url));

/**
 * Columns bearmon adds to gobearmon's tables (install.sql keeps those exactly as gobearmon
 * made them; these are added after, on a fresh database as on an old one). Each is added only
 * when missing, always nullable or with a default, so gobearmon rows and a gobearmon
 * front-end's INSERTs keep working.
 */
export const ADDED_COLUMNS: readonly { table: string; column: string; definition: string }[] = [
  // Contacts by name (`bearmon contact`, `bearmon apply`); NULL for rows made without one.
  { table: 'contacts', column: 'name', definition: 'VARCHAR(64) NULL DEFAULT NULL' },
];

/** Schema versions bearmon records in `bearmon_schema`; append, never edit. */
export const SCHEMA_VERSIONS = [
  { version: 1, description: 'gobearmon tables + bearmon_schema' },
  { version: 2, description: 'bearmon_transitions: idempotent transition writes' },
  { version: 3, description: 'bearmon_fence: view fencing of controller writes' },
  { version: 4, description: 'bearmon_notifications, bearmon_notification_attempts: notification outbox' },
  { version: 5, description: 'contacts.name: contacts by name' },
  { version: 6, description: 'bearmon_history_fine, bearmon_history_hourly: uptime and latency rollups' },
] as const;

export interface MigrationReport {
  database: string;
  createdDatabase: boolean;
  createdTables: string[];
  addedColumns: string[];
  appliedVersions: number[];
}

/**
 * Brings a database (empty, gobearmon-era or already bearmon) up to date without touching
 * its rows. Idempotent: a second run changes nothing and reports nothing applied.
 */
export async function migrate(options: PoolOptions, { createDatabase = true } = {}): Promise<MigrationReport> {
  const database = options.database;
  if (!database) throw new Error('migrate: the DSN names no database');
  const createdDatabase = createDatabase ? await ensureDatabase(options, database) : false;
  const connection = await mysql.createConnection({ ...options, database, multipleStatements: true });
  try {
    const before = await tableNames(connection, database);
    await connection.query(await readFile(INSTALL_SQL_PATH, 'utf8'));
    const after = await tableNames(connection, database);
    const addedColumns = await addMissingColumns(connection, database);
    const appliedVersions = await recordVersions(connection);
    return {
      database,
      createdDatabase,
      createdTables: [...after].filter((t) => !before.has(t)).sort(),
      addedColumns,
      appliedVersions,
    };
  } finally {
    await connection.end();
  }
}

async function ensureDatabase(options: PoolOptions, database: string): Promise<boolean> {
  const server = await mysql.createConnection({ ...options, database: undefined });
  try {
    const [rows] = await server.query<RowDataPacket[]>('SELECT 1 FROM information_schema.schemata WHERE schema_name = ?', [database]);
    if (rows.length > 0) return false;
    await server.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(database)}`);
    return true;
  } finally {
    await server.end();
  }
}

type Connection = mysql.Connection;

async function tableNames(connection: Connection, database: string): Promise<Set<string>> {
  const [rows] = await connection.query<RowDataPacket[]>(
    'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?',
    [database],
  );
  return new Set(rows.map((r) => String(r.name)));
}

async function addMissingColumns(connection: Connection, database: string): Promise<string[]> {
  const added: string[] = [];
  for (const { table, column, definition } of ADDED_COLUMNS) {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT 1 FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?',
      [database, table, column],
    );
    if (rows.length > 0) continue;
    await connection.query(`ALTER TABLE ${mysql.escapeId(table)} ADD COLUMN ${mysql.escapeId(column)} ${definition}`);
    added.push(`${table}.${column}`);
  }
  return added;
}

async function recordVersions(connection: Connection): Promise<number[]> {
  const applied: number[] = [];
  for (const { version, description } of SCHEMA_VERSIONS) {
    const [result] = await connection.query<mysql.ResultSetHeader>(
      'INSERT IGNORE INTO bearmon_schema (version, description) VALUES (?, ?)',
      [version, description],
    );
    if (result.affectedRows > 0) applied.push(version);
  }
  return applied;
}
