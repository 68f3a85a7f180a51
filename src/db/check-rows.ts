import { z } from 'zod';
import type { CheckRegistry } from '../checks/registry.ts';
import { prepareCheck } from '../checks/run.ts';
import { MAX_MIN_REGIONS } from '../region.ts';
import { describeIssues, showValue } from '../validation.ts';

export type CheckStatus = 'online' | 'offline';

/** A `checks` row the controller can monitor. */
export interface LoadedCheck {
  id: number;
  name: string;
  type: string;
  /** `checks.data` as stored: the JSON the worker receives with each assignment. */
  data: string;
  /** `check_interval`, seconds. */
  interval: number;
  delay: number;
  /** `min_regions`: distinct regions that must see a change, besides the confirmations (1: gobearmon's rule). */
  minRegions: number;
  status: CheckStatus;
}

/** A row that cannot be monitored, with the first field at fault. */
export interface MisconfiguredCheck {
  /** Null only when the id itself is unusable. */
  id: number | null;
  name: string;
  field: string;
  /** Names the field and the value, e.g. `check_interval: expected at least 1 (value 0)`. */
  message: string;
}

export type CheckRowVerdict = { ok: true; check: LoadedCheck } | { ok: false; misconfigured: MisconfiguredCheck };

// NULL is read as the column's default (gobearmon's defaults: 60 s, delay 1, online):
// the seed's schema allows a NULL status, and an older database may allow more.
const checkRow = z.object({
  id: z.number('expected an integer').int('expected an integer').positive('expected a positive id'),
  name: z.string('expected a string'),
  type: z.string('expected a string'),
  data: z.string('expected a string'),
  check_interval: z
    .number('expected an integer')
    .int('expected an integer')
    .min(1, 'expected at least 1')
    .nullable()
    .transform((v) => v ?? 60),
  delay: z
    .number('expected an integer')
    .int('expected an integer')
    .min(0, 'expected at least 0')
    .nullable()
    .transform((v) => v ?? 1),
  // Absent: a database not yet migrated to schema 9, where any one region is enough.
  min_regions: z
    .number('expected an integer')
    .int('expected an integer')
    .min(1, 'expected at least 1')
    .max(MAX_MIN_REGIONS, `expected at most ${MAX_MIN_REGIONS}`)
    .nullish()
    .transform((v) => v ?? 1),
  status: z
    .enum(['online', 'offline'], 'expected online or offline')
    .nullable()
    .transform((v) => v ?? 'online'),
});

/** Judges one untrusted row of `SELECT id, name, type, data, check_interval, delay, min_regions, status` (min_regions may be absent). */
export function judgeCheckRow(registry: CheckRegistry, row: Record<string, unknown>): CheckRowVerdict {
  const parsed = checkRow.safeParse(row);
  const name = typeof row.name === 'string' ? row.name : showValue(row.name);
  const id = typeof row.id === 'number' && Number.isInteger(row.id) ? row.id : null;
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const detailed = checkRow.safeParse(row, { reportInput: true }).error!;
    return { ok: false, misconfigured: { id, name, field: issue.path.map(String).join('.'), message: describeIssues(detailed) } };
  }
  const { check_interval: interval, min_regions: minRegions, ...rest } = parsed.data;
  const definition = judgeDefinition(registry, rest.type, rest.data);
  if (definition) return { ok: false, misconfigured: { id, name, ...definition } };
  return { ok: true, check: { ...rest, interval, minRegions } };
}

/** Null when the worker would understand the definition; otherwise what is wrong with it. */
function judgeDefinition(registry: CheckRegistry, type: string, data: string): { field: string; message: string } | null {
  const prepared = prepareCheck(registry, type, data);
  if (prepared.ok) return null;
  if (prepared.message.startsWith('type:')) return { field: 'type', message: prepared.message };
  if (prepared.message.startsWith('data:')) return { field: 'data', message: prepared.message };
  // A parameter is invalid: name it as a path inside `data` (prepareCheck names it bare).
  const schema = registry.get(type)!.schema;
  const error = schema.safeParse(JSON.parse(data), { reportInput: true }).error;
  if (!error) return { field: 'data', message: `data: ${prepared.message}` };
  return { field: ['data', ...error.issues[0]!.path.map(String)].join('.'), message: describeIssues(error, 'data') };
}
