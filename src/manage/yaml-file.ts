/**
 * `bearmon apply FILE` and `bearmon export`: checks, contacts and alerts as YAML, read with
 * the `yaml` library (eemeli/yaml: YAML 1.2, source ranges for every node, so each problem
 * is reported as file:line with the object and the field).
 *
 *   contacts:
 *     - name: ops-hook
 *       type: http
 *       data: http://127.0.0.1:9000/hook
 *   checks:
 *     - name: web
 *       type: http
 *       data: { url: "http://127.0.0.1:8080/", expect_status: 200 }
 *       interval: 30s        # whole seconds or 30s, 5m, 1h; default 60
 *       delay: 1             # default 1
 *       regions: 2           # distinct regions that must see a change, 1..16; default 1
 *       enabled: true        # default true
 *   alerts:
 *     - { check: web, contact: ops-hook, type: both }   # online, offline, both (default) or partial
 */
import { LineCounter, parseDocument, stringify, type Document } from 'yaml';
import type { CheckRegistry } from '../checks/registry.ts';
import type { ContactRegistry } from '../contacts/registry.ts';
import { formatDuration } from '../config/units.ts';
import { canonicalJson, duplicates, type Declared } from './plan.ts';
import { contactName, type Inventory } from './repository.ts';
import { judgeAlert, judgeCheck, judgeContact, type Judged } from './specs.ts';
import { exportMaintenance, judgeMaintenance } from './maintenance.ts';

const SECTIONS = ['checks', 'contacts', 'alerts', 'maintenance'] as const;
type Section = (typeof SECTIONS)[number];

export interface ReadFile {
  declared: Declared;
  /** Line of each declared alert, to report a reference to an unknown check or contact. */
  alertLines: number[];
  /** Line of each declared maintenance window, to report a reference to an unknown check. */
  maintenanceLines?: number[];
  /** file:line of the n-th object of a section. */
  where(section: Section, index: number): string;
}

export type ReadResult = { ok: true; file: ReadFile } | { ok: false; errors: string[] };

export function readDeclared(text: string, file: string, registries: { checks: CheckRegistry; contacts: ContactRegistry }): ReadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => `${file}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split('\n')[0]}`) };

  const errors: string[] = [];
  const root: unknown = doc.contents === null ? {} : doc.toJS();
  if (typeof root !== 'object' || root === null || Array.isArray(root)) return { ok: false, errors: [`${file}:1: expected a mapping with checks, contacts and alerts`] };
  for (const key of Object.keys(root)) {
    if (!(SECTIONS as readonly string[]).includes(key)) errors.push(`${at(nodeRange(doc, [key]))}: unknown section ${JSON.stringify(key)} (known: ${SECTIONS.join(', ')})`);
  }
  const items = (section: Section): unknown[] => {
    const value = (root as Record<string, unknown>)[section];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      errors.push(`${at(nodeRange(doc, [section]))}: ${section}: expected a list`);
      return [];
    }
    return value;
  };
  const where = (section: Section, index: number) => at(nodeRange(doc, [section, index]));

  function judgeAll<T extends object>(section: Section, noun: string, judge: (input: unknown) => Judged<T>): T[] {
    const specs: T[] = [];
    items(section).forEach((input, index) => {
      const judged = judge(input);
      if (judged.ok) return void specs.push(judged.spec);
      const name = typeof (input as { name?: unknown })?.name === 'string' ? ` ${JSON.stringify((input as { name: string }).name)}` : ` #${index + 1}`;
      for (const problem of judged.problems) {
        const path = problem.field === '(root)' ? [] : problem.field.split('.');
        errors.push(`${at(nodeRange(doc, [section, index, ...path]) ?? nodeRange(doc, [section, index]))}: ${noun}${name}: ${problem.message}`);
      }
    });
    // A second object of the same name is reported at its own line.
    const firstIndex = new Map<string, number>();
    items(section).forEach((item, index) => {
      const name = typeof (item as { name?: unknown })?.name === 'string' ? (item as { name: string }).name.trim() : undefined;
      if (name === undefined) return;
      if (firstIndex.has(name)) errors.push(`${where(section, index)}: ${noun} ${JSON.stringify(name)}: duplicate name (also at line ${where(section, firstIndex.get(name)!).split(':').pop()})`);
      else firstIndex.set(name, index);
    });
    return specs;
  }

  const checks = judgeAll('checks', 'check', (input) => judgeCheck(registries.checks, input));
  const contacts = judgeAll('contacts', 'contact', (input) => judgeContact(registries.contacts, input));
  const alerts = judgeAll('alerts', 'alert', judgeAlert);
  const maintenance = judgeAll('maintenance', 'maintenance window', judgeMaintenance);
  const maintenanceLines = items('maintenance').map((_, i) => lines.linePos(nodeRange(doc, ['maintenance', i]) ?? 0).line);
  const alertLines = items('alerts').map((_, i) => lines.linePos(nodeRange(doc, ['alerts', i]) ?? 0).line);
  for (const pair of duplicates(alerts.map((a) => `${a.check}\u0000${a.contact}`))) {
    const [check, contact] = pair.split('\u0000');
    errors.push(`${file}: alert ${check} → ${contact}: declared twice (one alert per check and contact)`);
  }
  if (errors.length > 0) return { ok: false, errors: byLine(errors) };
  const hasMaintenance = (root as Record<string, unknown>).maintenance !== undefined;
  return { ok: true, file: { declared: { checks, contacts, alerts, ...(hasMaintenance ? { maintenance } : {}) }, alertLines, maintenanceLines, where } };
}

/** Errors in the order of the file (stable within a line). */
function byLine(errors: string[]): string[] {
  const line = (e: string) => Number(/^[^\n]*?:(\d+): /.exec(e)?.[1] ?? 0);
  return errors.map((e, i) => ({ e, i })).sort((a, b) => line(a.e) - line(b.e) || a.i - b.i).map(({ e }) => e);
}

/** Start offset of the node at `path`, undefined when there is none. */
function nodeRange(doc: Document, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
    // A key whose value is a scalar: getIn returns the scalar node, which has a range; a
    // missing key falls back to its parent.
    if (depth === 0) break;
  }
  return undefined;
}

/**
 * Alerts naming a check or contact that is neither declared nor (without --prune, which
 * would delete it) in the database.
 */
export function unknownReferences(file: ReadFile, current: Inventory, prune: boolean, fileName: string): string[] {
  const checks = new Set(file.declared.checks.map((c) => c.name));
  const contacts = new Set(file.declared.contacts.map((c) => c.name));
  if (!prune) {
    for (const c of current.checks) checks.add(c.name);
    for (const c of current.contacts) contacts.add(contactName(c));
  }
  const errors: string[] = [];
  file.declared.alerts.forEach((alert, i) => {
    const line = `${fileName}:${file.alertLines[i] ?? 1}`;
    if (!checks.has(alert.check)) errors.push(`${line}: alert ${alert.check} → ${alert.contact}: check: no check named ${JSON.stringify(alert.check)} in the file${prune ? '' : ' or the database'}`);
    if (!contacts.has(alert.contact)) errors.push(`${line}: alert ${alert.check} → ${alert.contact}: contact: no contact named ${JSON.stringify(alert.contact)} in the file${prune ? '' : ' or the database'}`);
  });
  (file.declared.maintenance ?? []).forEach((w, i) => {
    if (w.check !== null && !checks.has(w.check)) errors.push(`${fileName}:${file.maintenanceLines?.[i] ?? 1}: maintenance window ${w.name}: check: no check named ${JSON.stringify(w.check)} in the file${prune ? '' : ' or the database'}`);
  });
  return errors;
}

/** The database as the YAML `apply` reads: applying it changes nothing. */
export function exportYaml(inventory: Inventory): string {
  const checkName = new Map(inventory.checks.map((c) => [c.id, c.name]));
  const contactNames = new Map(inventory.contacts.map((c) => [c.id, contactName(c)]));
  const data = (text: string): unknown => {
    try {
      const value = JSON.parse(text);
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.parse(canonicalJson(value)) : text;
    } catch {
      return text;
    }
  };
  const document = {
    contacts: inventory.contacts.map((c) => ({ name: contactName(c), type: c.type, data: c.data })),
    checks: inventory.checks.map((c) => ({
      name: c.name,
      type: c.type,
      data: data(c.data),
      interval: c.interval,
      delay: c.delay,
      // Only when not the default: an export of a one-region setup stays as it was.
      ...(c.regions !== 1 ? { regions: c.regions } : {}),
      enabled: c.enabled,
    })),
    alerts: inventory.alerts
      // An alert naming a check or contact that no longer exists cannot be declared by name.
      .filter((a) => checkName.has(a.checkId) && contactNames.has(a.contactId))
      .map((a) => ({
        check: checkName.get(a.checkId)!,
        contact: contactNames.get(a.contactId)!,
        type: a.type,
        enabled: a.enabled,
        // Only when set: a file without reminders stays as it was.
        ...(a.remindEvery !== null ? { remindEvery: formatDuration(a.remindEvery * 1000) } : {}),
        ...(a.remindMax !== null ? { remindMax: a.remindMax } : {}),
      })),
  };
  const windows = exportMaintenance(inventory.maintenance ?? [], inventory.checks);
  if (windows.length > 0) (document as Record<string, unknown>).maintenance = windows;
  return `# bearmon checks, contacts and alerts (bearmon export); bearmon apply FILE reads it back\n${stringify(document, { lineWidth: 0 })}`;
}

