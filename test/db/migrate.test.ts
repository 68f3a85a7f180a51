import { readFile } from 'node:fs/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';

const SEED_TABLES = ['alerts', 'charges', 'check_events', 'checks', 'contacts'];
/** Columns bearmon adds after install.sql (ADDED_COLUMNS), on a fresh database as on an old one. */
const ADDED = [
  'contacts.name',
  'alerts.remind_every',
  'alerts.remind_max',
  'bearmon_notifications.send_started_at',
  'bearmon_notifications.reminder',
  'bearmon_notifications.offline_since',
  'bearmon_notifications.held_by',
  'bearmon_notifications.group_key',
  'checks.min_regions',
  'bearmon_notifications.partial',
];
const BEARMON_TABLES = ['bearmon_fence', 'bearmon_history_fine', 'bearmon_history_hourly', 'bearmon_maintenance', 'bearmon_notification_attempts', 'bearmon_notifications', 'bearmon_schema', 'bearmon_transitions'];

async function columns(options: Awaited<ReturnType<typeof freshDatabase>>) {
  return withConnection(options, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>(
      `SELECT table_name t, column_name c, column_type ty, is_nullable n, column_default d, extra x
         FROM information_schema.columns WHERE table_schema = ? ORDER BY table_name, ordinal_position`,
      [options.database],
    );
    return rows.map((r) => ({ ...r }));
  });
}

async function dump(options: Awaited<ReturnType<typeof freshDatabase>>) {
  return withConnection(options, async (c) => {
    const out: Record<string, unknown[]> = {};
    for (const table of SEED_TABLES) out[table] = (await c.query<RowDataPacket[]>(`SELECT * FROM ${table} ORDER BY id`))[0];
    return out;
  });
}

describe('bearmon db migrate', () => {
  it('creates the seed tables with the seed columns and types on an empty database', async () => {
    const db = await freshDatabase();
    const report = await migrate(db);
    expect(report.createdTables).toEqual([...SEED_TABLES, ...BEARMON_TABLES].sort());
    expect(report.appliedVersions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(report.addedColumns).toEqual(ADDED);
    const cols = await columns(db);
    const checks = cols.filter((c) => c.t === 'checks').map((c) => [c.c, c.ty, c.n, c.d]);
    expect(checks).toEqual([
      ['id', 'int(11)', 'NO', null],
      ['name', 'varchar(64)', 'NO', null],
      ['type', 'varchar(16)', 'NO', null],
      ['data', 'varchar(1024)', 'NO', null],
      ['check_interval', 'int(11)', 'NO', '60'],
      ['delay', 'int(11)', 'NO', '1'],
      ['status', "enum('online','offline')", 'YES', "'online'"],
      ['enabled', 'tinyint(1)', 'NO', '1'],
      ['min_regions', 'int(11)', 'NO', '1'],
    ]);
    const events = cols.filter((c) => c.t === 'check_events').map((c) => [c.c, c.ty, c.n]);
    expect(events).toEqual([
      ['id', 'int(11)', 'NO'],
      ['check_id', 'int(11)', 'NO'],
      ['type', "enum('online','offline')", 'YES'],
      ['time', 'timestamp', 'YES'],
    ]);
  });

  it('upgrades a gobearmon database without touching its rows, and a second run changes nothing', async () => {
    const db = await freshDatabase();
    await withConnection(db, async (c) => {
      await c.query(await readFile(new URL('../fixtures/gobearmon-install.sql', import.meta.url), 'utf8'));
      await c.query(`INSERT INTO checks (name, type, data, check_interval, delay, status) VALUES
        ('ping ipv6', 'icmp', '{"target":"127.0.0.1","force_ip":6}', 60, 1, 'offline'),
        ('my http check', 'http', '{"url":"https:\\/\\/127.0.0.1","method":"GET","expect_status":200,"timeout":15}', 120, 5, 'online')`);
      await c.query(`INSERT INTO contacts (type, data) VALUES ('email', 'ops@example.test')`);
      await c.query(`INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1), (2, 1, 'offline', 0)`);
      await c.query(`INSERT INTO check_events (check_id, type, time) VALUES (1, 'offline', '2020-01-02 03:04:05')`);
      await c.query(`INSERT INTO charges (check_id, type, data) VALUES (1, 'sms', 'SM0123')`);
    });
    const rowsBefore = await dump(db);
    const columnsBefore = (await columns(db)).filter((c) => SEED_TABLES.includes(String(c.t)));

    const first = await migrate(db);
    expect(first.createdTables).toEqual(BEARMON_TABLES);
    // gobearmon's rows and columns are untouched; contacts gain a nullable name and alerts
    // nullable reminder settings, NULL for every old row (an old alert sends no reminders).
    expect(first.addedColumns).toEqual(ADDED);
    const rowsAfter = {
      ...rowsBefore,
      contacts: rowsBefore.contacts!.map((row) => ({ ...(row as object), name: null })),
      alerts: rowsBefore.alerts!.map((row) => ({ ...(row as object), remind_every: null, remind_max: null })),
      // Every check keeps gobearmon's rule: a change from any one region is enough.
      checks: rowsBefore.checks!.map((row) => ({ ...(row as object), min_regions: 1 })),
    };
    expect(await dump(db)).toEqual(rowsAfter);
    const seedColumnsAfter = (await columns(db)).filter((c) => SEED_TABLES.includes(String(c.t)));
    // alerts.type is widened with 'partial' (rows keep their values); every other seed column is as it was.
    const widened = (c: Record<string, unknown>) => c.t === 'alerts' && c.c === 'type';
    expect(seedColumnsAfter.filter((c) => !ADDED.includes(`${c.t}.${c.c}`) && !widened(c))).toEqual(columnsBefore.filter((c) => !widened(c)));
    expect(seedColumnsAfter.find(widened)).toMatchObject({ ty: "enum('online','offline','both','partial')", d: "'both'" });
    expect(seedColumnsAfter.find((c) => c.t === 'contacts' && c.c === 'name')).toMatchObject({ ty: 'varchar(64)', n: 'YES' });
    expect(seedColumnsAfter.filter((c) => c.t === 'alerts' && String(c.c).startsWith('remind_')).map((c) => [c.c, c.ty, c.n, c.d])).toEqual([
      ['remind_every', 'int(11)', 'YES', 'NULL'],
      ['remind_max', 'int(11)', 'YES', 'NULL'],
    ]);

    const schemaAfterFirst = await columns(db);
    const second = await migrate(db);
    expect(second).toMatchObject({ createdDatabase: false, createdTables: [], addedColumns: [], appliedVersions: [] });
    expect(await columns(db)).toEqual(schemaAfterFirst);
    expect(await dump(db)).toEqual(rowsAfter);
  });

  it('gives the same schema to a fresh install and to an upgraded gobearmon database', async () => {
    const fresh = await freshDatabase();
    const upgraded = await freshDatabase();
    await migrate(fresh);
    await withConnection(upgraded, async (c) =>
      c.query(await readFile(new URL('../fixtures/gobearmon-install.sql', import.meta.url), 'utf8')),
    );
    await migrate(upgraded);
    expect(await columns(upgraded)).toEqual(await columns(fresh));
  });

  it('widens the outbox states of a table made before maintenance windows (held, skipped)', async () => {
    const db = await freshDatabase();
    await migrate(db);
    const fresh = await columns(db);
    // As schema version 4 made it: no 'held' or 'skipped'.
    await withConnection(db, (c) =>
      c.query("ALTER TABLE bearmon_notifications MODIFY COLUMN state ENUM ('pending', 'sending', 'delivered', 'failed', 'unconfirmed') NOT NULL DEFAULT 'pending'"),
    );
    await migrate(db);
    expect(await columns(db)).toEqual(fresh);
    expect(fresh.find((c) => c.t === 'bearmon_notifications' && c.c === 'state')?.ty).toBe("enum('pending','sending','delivered','failed','unconfirmed','held','skipped')");
  });

  it('creates the database when it does not exist', async () => {
    const db = await freshDatabase();
    await withConnection({ ...db, database: undefined }, (c) => c.query(`DROP DATABASE ${db.database}`));
    const report = await migrate(db);
    expect(report.createdDatabase).toBe(true);
    expect(report.createdTables).toContain('checks');
  });
});
