/**
 * Partial outages (issue 17): workers of some regions see a check offline while those of
 * other regions see it online. The controller decides one; the writer records it as a
 * transition with `partial` set (checks.status and check_events untouched) and the outbox
 * keeps it as JSON in `bearmon_notifications.partial`. This module writes that JSON and
 * reads it back: the column crossed a wire (and may be edited by hand), so it is validated.
 */
import { isRegion } from '../region.ts';

/** A partial outage as notifications carry it: `down` regions see the check offline, `up` regions online. */
export interface PartialOutage {
  phase: 'began' | 'ended';
  down: string[];
  up: string[];
}

/** Bytes of bearmon_notifications.partial (VARCHAR(512)). */
export const PARTIAL_MAX = 512;

/** Why a value is not a partial outage (null: it is one). */
export function partialProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const { phase, down, up } = value as Record<string, unknown>;
  if (phase !== 'began' && phase !== 'ended') return 'expected phase "began" or "ended"';
  for (const [name, list] of [['down', down], ['up', up]] as const) {
    if (!Array.isArray(list) || !list.every(isRegion)) return `expected ${name} to be a list of region names`;
  }
  return null;
}

/**
 * The column's JSON. Both lists are region names (32 characters at most), so only an
 * unusual number of regions overflows the column: then the `up` list is cut first, then
 * `down` (the news), from their ends.
 */
export function partialJson(p: PartialOutage): string {
  const kept = { phase: p.phase, down: [...p.down], up: [...p.up] };
  let json = JSON.stringify(kept);
  while (Buffer.byteLength(json) > PARTIAL_MAX && (kept.up.length > 0 || kept.down.length > 0)) {
    if (kept.up.length > 0) kept.up.pop();
    else kept.down.pop();
    json = JSON.stringify(kept);
  }
  return json;
}

/** Reads the column: null for NULL (a status notification), an error naming column and value for anything else invalid. */
export function readPartial(raw: string | null): { ok: true; partial: PartialOutage | null } | { ok: false; error: string } {
  if (raw === null) return { ok: true, partial: null };
  let value: unknown;
  let problem: string | null;
  try {
    value = JSON.parse(raw);
    problem = partialProblem(value);
  } catch {
    problem = 'invalid JSON';
  }
  if (problem !== null) return { ok: false, error: `bearmon_notifications.partial holds ${JSON.stringify(raw.slice(0, 200))}: ${problem}` };
  const { phase, down, up } = value as PartialOutage;
  return { ok: true, partial: { phase, down: [...down], up: [...up] } };
}
