/**
 * The rows behind `bearmon check|contact|alert` and `bearmon apply`: gobearmon's checks,
 * contacts and alerts tables (plus bearmon's contacts.name), read whole and written one
 * statement at a time on a connection the caller holds in a transaction.
 *
 * Rows are read as they are (a gobearmon front-end may have written anything): the commands
 * show them, and judge only what the operator asks to write.
 */
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { readMaintenance, runMaintenanceStep, type MaintenanceRecord, type MaintenanceStep } from './maintenance.ts';
import type { AlertType, CheckSpec, ContactSpec } from './specs.ts';

export interface CheckRecord {
  id: number;
  name: string;
  type: string;
  data: string;
  interval: number;
  delay: number;
  /** checks.min_regions. */
  regions: number;
  status: string;
  enabled: boolean;
}
export interface ContactRecord {
  id: number;
  /** NULL for a contact made without one (by gobearmon): see contactName. */
  name: string | null;
  type: string;
  data: string;
}
export interface AlertRecord {
  id: number;
  checkId: number;
  contactId: number;
  type: AlertType;
  enabled: boolean;
  /** alerts.remind_every (seconds) and remind_max; null: no reminders (gobearmon's rows). */
  remindEvery: number | null;
  remindMax: number | null;
}
export interface Inventory {
  /** Maintenance windows (bearmon_maintenance). */
  maintenance?: MaintenanceRecord[];
  checks: CheckRecord[];
  contacts: ContactRecord[];
  alerts: AlertRecord[];
}

/** An alert's reminder settings as stored (null: none). */
export type Remind = Pick<AlertRecord, 'remindEvery' | 'remindMax'>;
export const NO_REMIND: Remind = { remindEvery: null, remindMax: null };
/** A spec's reminder settings as columns. */
export const remindOf = (spec: { remindEvery?: number; remindMax?: number }): Remind => ({ remindEvery: spec.remindEvery ?? null, remindMax: spec.remindMax ?? null });

/** The name a contact goes by: its own, or `contact-<id>` for one made without a name. */
export const contactName = (contact: Pick<ContactRecord, 'id' | 'name'>): string => contact.name ?? `contact-${contact.id}`;

const text = (v: unknown) => (v === null || v === undefined ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

export async function readInventory(connection: PoolConnection, timeout: number): Promise<Inventory> {
  const query = async (sql: string) => (await connection.query<RowDataPacket[]>({ sql, timeout }))[0];
  const [checks, contacts, alerts] = [
    await query('SELECT id, name, type, data, check_interval, delay, min_regions, status, enabled FROM checks ORDER BY id'),
    await query('SELECT id, name, type, data FROM contacts ORDER BY id'),
    await query('SELECT id, check_id, contact_id, type, enabled, remind_every, remind_max FROM alerts ORDER BY id'),
  ];
  return {
    maintenance: await readMaintenance(connection, timeout),
    checks: checks.map((r) => ({
      id: Number(r.id),
      name: text(r.name),
      type: text(r.type),
      data: text(r.data),
      interval: Number(r.check_interval ?? 60),
      delay: Number(r.delay ?? 1),
      regions: Number(r.min_regions ?? 1),
      status: text(r.status ?? 'online'),
      enabled: Number(r.enabled) !== 0,
    })),
    contacts: contacts.map((r) => ({ id: Number(r.id), name: r.name === null ? null : text(r.name), type: text(r.type), data: text(r.data) })),
    alerts: alerts.map((r) => ({
      id: Number(r.id),
      checkId: Number(r.check_id),
      contactId: Number(r.contact_id),
      type: (text(r.type) || 'both') as AlertType,
      enabled: Number(r.enabled) !== 0,
      remindEvery: r.remind_every === null ? null : Number(r.remind_every),
      remindMax: r.remind_max === null ? null : Number(r.remind_max),
    })),
  };
}

/** Writes of one transaction. Deleting a check or a contact deletes the alerts naming it, which could never fire again. */
export function writer(connection: PoolConnection, timeout: number) {
  const run = async (sql: string, values: unknown[]) => (await connection.query<ResultSetHeader>({ sql, timeout }, values))[0];
  return {
    insertCheck: async (s: CheckSpec) =>
      (await run('INSERT INTO checks (name, type, data, check_interval, delay, min_regions, enabled) VALUES (?, ?, ?, ?, ?, ?, ?)', [s.name, s.type, s.data, s.interval, s.delay, s.regions, s.enabled ? 1 : 0])).insertId,
    updateCheck: (id: number, s: CheckSpec) =>
      run('UPDATE checks SET name = ?, type = ?, data = ?, check_interval = ?, delay = ?, min_regions = ?, enabled = ? WHERE id = ?', [s.name, s.type, s.data, s.interval, s.delay, s.regions, s.enabled ? 1 : 0, id]),
    deleteCheck: async (id: number) => {
      const alerts = (await run('DELETE FROM alerts WHERE check_id = ?', [id])).affectedRows;
      await run('DELETE FROM checks WHERE id = ?', [id]);
      return { alerts };
    },
    insertContact: async (s: ContactSpec) => (await run('INSERT INTO contacts (name, type, data) VALUES (?, ?, ?)', [s.name, s.type, s.data])).insertId,
    updateContact: (id: number, s: ContactSpec) => run('UPDATE contacts SET name = ?, type = ?, data = ? WHERE id = ?', [s.name, s.type, s.data, id]),
    deleteContact: async (id: number) => {
      const alerts = (await run('DELETE FROM alerts WHERE contact_id = ?', [id])).affectedRows;
      await run('DELETE FROM contacts WHERE id = ?', [id]);
      return { alerts };
    },
    insertAlert: async (checkId: number, contactId: number, type: AlertType, enabled: boolean, remind: Remind = NO_REMIND) =>
      (
        await run('INSERT INTO alerts (check_id, contact_id, type, enabled, remind_every, remind_max) VALUES (?, ?, ?, ?, ?, ?)', [
          checkId,
          contactId,
          type,
          enabled ? 1 : 0,
          remind.remindEvery,
          remind.remindMax,
        ])
      ).insertId,
    updateAlert: (id: number, type: AlertType, enabled: boolean, remind: Remind = NO_REMIND) =>
      run('UPDATE alerts SET type = ?, enabled = ?, remind_every = ?, remind_max = ? WHERE id = ?', [type, enabled ? 1 : 0, remind.remindEvery, remind.remindMax, id]),
    deleteAlert: (id: number) => run('DELETE FROM alerts WHERE id = ?', [id]),
    maintenance: (step: MaintenanceStep, checkIds: ReadonlyMap<string, number>) => runMaintenanceStep(step, checkIds, run),
  };
}
export type Writer = ReturnType<typeof writer>;
