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
  // Reminders while a check stays offline: every remind_every seconds, at most remind_max times (NULL: none).
  { table: 'alerts', column: 'remind_every', definition: 'INT NULL DEFAULT NULL' },
  { table: 'alerts', column: 'remind_max', definition: 'INT NULL DEFAULT NULL' },
  // bearmon's own outbox, grown after version 4 (CREATE TABLE IF NOT EXISTS would not add them):
  // when the current attempt's send began (NULL: claimed, nothing sent yet), so a successor
  // resends what never started; the reminder's slot number; the outage start an online or
  // reminder notification quotes.
  { table: 'bearmon_notifications', column: 'send_started_at', definition: 'DATETIME(3) NULL DEFAULT NULL' },
  { table: 'bearmon_notifications', column: 'reminder', definition: 'INT NULL DEFAULT NULL' },
  { table: 'bearmon_notifications', column: 'offline_since', definition: 'DATETIME(3) NULL DEFAULT NULL' },
  // The maintenance window that held the notification (NULL: none), and the key of the one
  // grouped message that carried it in a storm (NULL: sent on its own).
  { table: 'bearmon_notifications', column: 'held_by', definition: 'VARCHAR(64) NULL DEFAULT NULL' },
  { table: 'bearmon_notifications', column: 'group_key', definition: 'VARBINARY(160) NULL DEFAULT NULL' },
  // Distinct regions a change must be seen from, on top of `confirmations` (1: any, gobearmon's rule).
  { table: 'checks', column: 'min_regions', definition: 'INT NOT NULL DEFAULT 1' },
  // A partial outage notification: JSON {"phase":"began"|"ended","down":[regions],"up":[regions]} (NULL: a status change).
  { table: 'bearmon_notifications', column: 'partial', definition: 'VARCHAR(512) NULL DEFAULT NULL' },
];

/**
 * ENUM columns of bearmon's own tables that gained values after the table was made (CREATE
 * TABLE IF NOT EXISTS does not change an existing one): rewritten when `value` is missing.
 */
export const WIDENED_ENUMS: readonly { table: string; column: string; value: string; definition: string }[] = [
  {
    table: 'bearmon_notifications',
    column: 'state',
    value: 'skipped',
    definition: "ENUM ('pending', 'sending', 'delivered', 'failed', 'unconfirmed', 'held', 'skipped') NOT NULL DEFAULT 'pending'",
  },
  // gobearmon's column, widened (its rows untouched): a `partial` alert hears of partial
  // outages (some regions see the check offline) and nothing else. gobearmon never matches it.
  {
    table: 'alerts',
    column: 'type',
    value: 'partial',
    definition: "ENUM ('online', 'offline', 'both', 'partial') DEFAULT 'both'",
  },
];

/** Schema versions bearmon records in `bearmon_schema`; append, never edit. */
export const SCHEMA_VERSIONS = [
  { version: 1, description: 'gobearmon tables + bearmon_schema' },
  { version: 2, description: 'bearmon_transitions: idempotent transition writes' },
  { version: 3, description: 'bearmon_fence: view fencing of controller writes' },
  { version: 4, description: 'bearmon_notifications, bearmon_notification_attempts: notification outbox' },
  { version: 5, description: 'contacts.name: contacts by name' },
  { version: 6, description: 'bearmon_history_fine, bearmon_history_hourly: uptime and latency rollups' },
  { version: 7, description: 'bearmon_notifications.send_started_at, reminder, offline_since; alerts.remind_every, remind_max: no lost page, reminders' },
  { version: 8, description: 'bearmon_maintenance; bearmon_notifications.held_by, group_key, states held and skipped: maintenance windows, storm grouping' },
  { version: 9, description: "checks.min_regions; alerts.type 'partial'; bearmon_notifications.partial: regions and partial outages" },
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
    await widenEnums(connection, database);
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

async function widenEnums(connection: Connection, database: string): Promise<void> {
  for (const { table, column, value, definition } of WIDENED_ENUMS) {
    const [rows] = await connection.query<RowDataPacket[]>(
      'SELECT column_type AS type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?',
      [database, table, column],
    );
    if (rows.length === 0 || String(rows[0]!.type).includes(`'${value}'`)) continue;
    await connection.query(`ALTER TABLE ${mysql.escapeId(table)} MODIFY COLUMN ${mysql.escapeId(column)} ${definition}`);
  }
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
