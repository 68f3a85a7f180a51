/**
 * From what the database holds and what a file declares to what must change: the plan of
 * `bearmon apply` (printed by --dry-run, executed otherwise). Pure.
 *
 * Identity is the name: checks and contacts by name, alerts by (check name, contact name).
 * Without --prune, objects the file does not declare are left alone; with it they are
 * deleted. A declared object equal to its row (check data compared as JSON values, so
 * gobearmon's `"https:\/\/"` escapes or another key order are no change) is left alone, so
 * applying twice changes nothing.
 */
import { contactName, remindOf, type AlertRecord, type Remind, type CheckRecord, type ContactRecord, type Inventory } from './repository.ts';
import type { AlertSpec, AlertType, CheckSpec, ContactSpec } from './specs.ts';

import { planMaintenance, type MaintenanceSpec, type MaintenanceStep } from './maintenance.ts';

export interface Declared {
  checks: CheckSpec[];
  contacts: ContactSpec[];
  /** By name: check and contact name what the file or the database calls them. */
  alerts: AlertSpec[];
  /** Maintenance windows by name (the `maintenance:` section; absent: left alone). */
  maintenance?: MaintenanceSpec[];
}

export type Step =
  | { kind: 'contact'; action: 'create'; name: string; spec: ContactSpec }
  | { kind: 'contact'; action: 'update'; name: string; id: number; spec: ContactSpec; changes: string[] }
  | { kind: 'contact'; action: 'delete'; name: string; id: number }
  | { kind: 'check'; action: 'create'; name: string; spec: CheckSpec }
  | { kind: 'check'; action: 'update'; name: string; id: number; spec: CheckSpec; changes: string[] }
  | { kind: 'check'; action: 'delete'; name: string; id: number }
  | { kind: 'alert'; action: 'create'; name: string; check: string; contact: string; type: AlertType; enabled: boolean; remind: Remind }
  | { kind: 'alert'; action: 'update'; name: string; id: number; type: AlertType; enabled: boolean; remind: Remind; changes: string[] }
  | { kind: 'alert'; action: 'delete'; name: string; id: number }
  | MaintenanceStep;

/** JSON text as a value with sorted keys, so two spellings of the same object compare equal. */
export function canonicalJson(textOrValue: unknown): string {
  let value = textOrValue;
  if (typeof textOrValue === 'string') {
    try {
      value = JSON.parse(textOrValue);
    } catch {
      return textOrValue;
    }
  }
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sort(x)])) : v;
  return JSON.stringify(sort(value));
}

function checkChanges(row: CheckRecord, spec: CheckSpec): string[] {
  const changes: string[] = [];
  if (row.type !== spec.type) changes.push('type');
  if (canonicalJson(row.data) !== canonicalJson(spec.data)) changes.push('data');
  if (row.interval !== spec.interval) changes.push('interval');
  if (row.delay !== spec.delay) changes.push('delay');
  if (row.regions !== spec.regions) changes.push('regions');
  if (row.enabled !== spec.enabled) changes.push('enabled');
  return changes;
}

function contactChanges(row: ContactRecord, spec: ContactSpec): string[] {
  const changes: string[] = [];
  if (row.type !== spec.type) changes.push('type');
  if (row.data !== spec.data) changes.push('data');
  return changes;
}

export const alertName = (check: string, contact: string) => `${check} → ${contact}`;

/** Names appearing more than once among `names` (the database may hold duplicate check names from gobearmon). */
export function duplicates(names: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const n of names) (seen.has(n) ? twice : seen).add(n);
  return [...twice];
}

/**
 * The steps, in the order they can run: contacts and checks first (alerts need their ids),
 * then alerts, then deletions (alerts before what they name).
 */
export function planApply(current: Inventory, declared: Declared, options: { prune: boolean }): Step[] {
  const creates: Step[] = [];
  const deletes: Step[] = [];
  const checkByName = new Map(current.checks.map((c) => [c.name, c]));
  const contactByName = new Map(current.contacts.map((c) => [contactName(c), c]));

  for (const spec of declared.contacts) {
    const row = contactByName.get(spec.name);
    if (!row) creates.push({ kind: 'contact', action: 'create', name: spec.name, spec });
    else {
      const changes = contactChanges(row, spec);
      if (changes.length > 0) creates.push({ kind: 'contact', action: 'update', name: spec.name, id: row.id, spec, changes });
    }
  }
  for (const spec of declared.checks) {
    const row = checkByName.get(spec.name);
    if (!row) creates.push({ kind: 'check', action: 'create', name: spec.name, spec });
    else {
      const changes = checkChanges(row, spec);
      if (changes.length > 0) creates.push({ kind: 'check', action: 'update', name: spec.name, id: row.id, spec, changes });
    }
  }

  const checkNameOf = new Map(current.checks.map((c) => [c.id, c.name]));
  const contactNameOf = new Map(current.contacts.map((c) => [c.id, contactName(c)]));
  const alertRows = new Map<string, AlertRecord[]>();
  for (const alert of current.alerts) {
    const key = alertName(checkNameOf.get(alert.checkId) ?? `#${alert.checkId}`, contactNameOf.get(alert.contactId) ?? `#${alert.contactId}`);
    alertRows.set(key, [...(alertRows.get(key) ?? []), alert]);
  }
  const keptAlerts = new Set<number>();
  for (const spec of declared.alerts) {
    const name = alertName(spec.check, spec.contact);
    const row = alertRows.get(name)?.[0];
    if (!row) {
      creates.push({ kind: 'alert', action: 'create', name, check: spec.check, contact: spec.contact, type: spec.type, enabled: spec.enabled, remind: remindOf(spec) });
      continue;
    }
    keptAlerts.add(row.id);
    const remind = remindOf(spec);
    const changes = [
      ...(row.type !== spec.type ? ['type'] : []),
      ...(row.enabled !== spec.enabled ? ['enabled'] : []),
      ...(row.remindEvery !== remind.remindEvery ? ['remindEvery'] : []),
      ...(row.remindMax !== remind.remindMax ? ['remindMax'] : []),
    ];
    if (changes.length > 0) creates.push({ kind: 'alert', action: 'update', name, id: row.id, type: spec.type, enabled: spec.enabled, remind, changes });
  }

  if (options.prune) {
    const declaredChecks = new Set(declared.checks.map((c) => c.name));
    const declaredContacts = new Set(declared.contacts.map((c) => c.name));
    for (const [name, rows] of alertRows) for (const row of rows) if (!keptAlerts.has(row.id)) deletes.push({ kind: 'alert', action: 'delete', name, id: row.id });
    for (const row of current.checks) if (!declaredChecks.has(row.name)) deletes.push({ kind: 'check', action: 'delete', name: row.name, id: row.id });
    for (const row of current.contacts) if (!declaredContacts.has(contactName(row))) deletes.push({ kind: 'contact', action: 'delete', name: contactName(row), id: row.id });
  }
  // Windows after the checks they name, and deleted before them.
  // A file without a maintenance section leaves the windows alone, even with --prune.
  const windows = declared.maintenance ? planMaintenance(current.maintenance ?? [], declared.maintenance, current.checks, options.prune) : { creates: [], deletes: [] };
  return [...creates, ...windows.creates, ...windows.deletes, ...deletes];
}

/** One line per step, as `--dry-run` and apply print them. */
export function describeStep(step: Step): string {
  const what = `${step.kind} ${JSON.stringify(step.name)}`;
  switch (step.action) {
    case 'create':
      return `create ${what}`;
    case 'update':
      return `update ${what} (#${step.id}): ${step.changes.join(', ')}`;
    case 'delete':
      return `delete ${what} (#${step.id})`;
  }
}
