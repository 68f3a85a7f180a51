/**
 * The `maintenance:` section of `bearmon apply` (and `bearmon export`): maintenance windows
 * declared by name, with the same fields as `bearmon maintenance add`:
 *
 *   maintenance:
 *     - { name: upgrade, check: web, start: "2026-12-24T22:00", end: "2026-12-25T02:00", timezone: Europe/Berlin }
 *     - { name: weekend, days: [sat, sun], at: "02:00", duration: 2h }       # every check
 *     - { name: backup, cron: "30 1 * * *", duration: 30m, enabled: false }
 *
 * Judged by judgeWindow (src/maintenance/windows.ts); planned, like checks, by name.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { judgeWindow, type MaintenanceKind } from '../maintenance/windows.ts';
import { canonicalJson } from './plan.ts';
import type { CheckRecord } from './repository.ts';
import type { Judged, SpecProblem } from './specs.ts';

export interface MaintenanceSpec {
  name: string;
  /** The check by name (null: every check). */
  check: string | null;
  kind: MaintenanceKind;
  /** JSON text of the window (bearmon_maintenance.spec). */
  spec: string;
  timeZone: string;
  enabled: boolean;
}

export interface MaintenanceRecord {
  id: number;
  name: string;
  checkId: number | null;
  kind: string;
  spec: string;
  timeZone: string;
  enabled: boolean;
}

export type MaintenanceStep =
  | { kind: 'maintenance'; action: 'create'; name: string; spec: MaintenanceSpec }
  | { kind: 'maintenance'; action: 'update'; name: string; id: number; spec: MaintenanceSpec; changes: string[] }
  | { kind: 'maintenance'; action: 'delete'; name: string; id: number };

const FIELDS = ['name', 'check', 'start', 'end', 'days', 'at', 'cron', 'duration', 'timezone', 'enabled'];

export function judgeMaintenance(input: unknown): Judged<MaintenanceSpec> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, problems: [{ field: '(root)', message: `expected a maintenance window as a mapping of fields (value ${JSON.stringify(input)})` }] };
  const o = input as Record<string, unknown>;
  const problems: SpecProblem[] = Object.keys(o)
    .filter((k) => !FIELDS.includes(k))
    .map((k) => ({ field: k, message: `${k}: unknown field (known: ${FIELDS.join(', ')})` }));
  const check = o.check === undefined || o.check === null ? null : String(o.check).trim();
  const str = (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v.map(String).join(',') : String(v));
  const kind = o.cron !== undefined ? 'cron' : o.days !== undefined || o.at !== undefined ? 'weekly' : o.start !== undefined || o.end !== undefined ? 'once' : undefined;
  const spec =
    kind === 'cron' ? { cron: str(o.cron), duration: str(o.duration) } : kind === 'weekly' ? { days: str(o.days), start: str(o.at), duration: str(o.duration) } : { start: str(o.start), end: str(o.end) };
  if (kind === undefined) problems.push({ field: 'kind', message: 'kind: give start and end (one-off), days, at and duration (weekly) or cron and duration (value none)' });
  // The check is a name here (resolved when applied); any positive id stands in for judging.
  const judged = judgeWindow({ name: o.name, checkId: check === null ? null : 1, kind, spec, timeZone: o.timezone ?? 'UTC', enabled: o.enabled });
  // A weekly window's start time is `at` here, as on the command line.
  if (!judged.ok) problems.push(...judged.problems.map((p) => (kind === 'weekly' && p.field === 'start' ? { field: 'at', message: p.message.replace(/^start:/, 'at:') } : p)));
  if (check === '') problems.push({ field: 'check', message: 'check: expected a check name (value "")' });
  if (problems.length > 0 || !judged.ok) return { ok: false, problems };
  const w = judged.window;
  return { ok: true, spec: { name: w.name, check, kind: w.kind, spec: JSON.stringify(w.spec), timeZone: w.timeZone, enabled: w.enabled } };
}

/** The windows as they are (none when the table does not exist yet: the database is older than this bearmon). */
export async function readMaintenance(connection: PoolConnection, timeout: number): Promise<MaintenanceRecord[]> {
  try {
    const [rows] = await connection.query<RowDataPacket[]>({ sql: 'SELECT id, name, check_id, kind, spec, time_zone, enabled FROM bearmon_maintenance ORDER BY id', timeout });
    return rows.map((r) => ({
      id: Number(r.id),
      name: String(r.name),
      checkId: r.check_id === null ? null : Number(r.check_id),
      kind: String(r.kind),
      spec: String(r.spec),
      timeZone: String(r.time_zone),
      enabled: Number(r.enabled) !== 0,
    }));
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ER_NO_SUCH_TABLE') return [];
    throw err;
  }
}

/** Creates and updates (after checks, whose ids they need) and, with prune, deletes. Pure. */
export function planMaintenance(current: readonly MaintenanceRecord[], declared: readonly MaintenanceSpec[], checks: readonly CheckRecord[], prune: boolean) {
  const checkName = new Map(checks.map((c) => [c.id, c.name]));
  const byName = new Map(current.map((w) => [w.name, w]));
  const creates: MaintenanceStep[] = [];
  const deletes: MaintenanceStep[] = [];
  for (const spec of declared) {
    const row = byName.get(spec.name);
    if (!row) {
      creates.push({ kind: 'maintenance', action: 'create', name: spec.name, spec });
      continue;
    }
    const changes = [
      ...((row.checkId === null ? null : (checkName.get(row.checkId) ?? `#${row.checkId}`)) !== spec.check ? ['check'] : []),
      ...(row.kind !== spec.kind || canonicalJson(row.spec) !== canonicalJson(spec.spec) ? ['window'] : []),
      ...(row.timeZone !== spec.timeZone ? ['timezone'] : []),
      ...(row.enabled !== spec.enabled ? ['enabled'] : []),
    ];
    if (changes.length > 0) creates.push({ kind: 'maintenance', action: 'update', name: spec.name, id: row.id, spec, changes });
  }
  if (prune) {
    const declaredNames = new Set(declared.map((d) => d.name));
    for (const row of current) if (!declaredNames.has(row.name)) deletes.push({ kind: 'maintenance', action: 'delete', name: row.name, id: row.id });
  }
  return { creates, deletes };
}

/** Runs one step on the apply transaction's connection; `checkIds` knows the checks created before it. */
export async function runMaintenanceStep(step: MaintenanceStep, checkIds: ReadonlyMap<string, number>, run: (sql: string, values: unknown[]) => Promise<unknown>): Promise<void> {
  if (step.action === 'delete') return void (await run('DELETE FROM bearmon_maintenance WHERE id = ?', [step.id]));
  const s = step.spec;
  const checkId = s.check === null ? null : checkIds.get(s.check);
  // unknownReferences() refused such a file before planning: reaching this is a bug.
  if (checkId === undefined) throw new Error(`maintenance window ${s.name}: no check named ${s.check}`);
  const values = [s.name, checkId, s.kind, s.spec, s.timeZone, s.enabled ? 1 : 0];
  if (step.action === 'create') await run('INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone, enabled) VALUES (?, ?, ?, ?, ?, ?)', values);
  else await run('UPDATE bearmon_maintenance SET name = ?, check_id = ?, kind = ?, spec = ?, time_zone = ?, enabled = ? WHERE id = ?', [...values, step.id]);
}

/** The windows as the YAML declares them (export then apply changes nothing). */
export function exportMaintenance(windows: readonly MaintenanceRecord[], checks: readonly CheckRecord[]): Record<string, unknown>[] {
  const checkName = new Map(checks.map((c) => [c.id, c.name]));
  return windows
    .filter((w) => w.checkId === null || checkName.has(w.checkId))
    .map((w) => {
      const spec = JSON.parse(w.spec) as Record<string, unknown>;
      const fields =
        w.kind === 'cron'
          ? { cron: spec.cron, duration: spec.duration }
          : w.kind === 'weekly'
            ? { days: (spec.days as string[]).join(','), at: spec.start, duration: spec.duration }
            : { start: spec.start, end: spec.end };
      return { name: w.name, ...(w.checkId === null ? {} : { check: checkName.get(w.checkId) }), ...fields, timezone: w.timeZone, enabled: w.enabled };
    });
}
