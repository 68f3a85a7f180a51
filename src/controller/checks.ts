import type { CheckRegistry } from '../checks/registry.ts';
import { DEADLINE_MARGIN_MS, prepareCheck } from '../checks/run.ts';
import type { LoadedCheck, MisconfiguredCheck } from '../db/check-rows.ts';

export type { LoadedCheck, MisconfiguredCheck };

/** What the controller keeps per monitored check besides its machine. */
export interface CheckDefinition extends LoadedCheck {
  /** How long a run may take before its assignment expires and is handed to another worker. */
  expireAfterMs: number;
  lastWorker?: string;
  /**
   * The worker asked last to confirm a suspicion of this check: the next suspicion asks
   * another first, so one worker (a captive proxy that says "online" about everything)
   * cannot cancel every suspicion of a check while the others are never asked.
   */
  lastConfirmer?: string;
}

/** Extra time past a run's own deadline before the controller gives up on the assignment. */
export const ASSIGNMENT_GRACE_MS = 2000;

/**
 * Validates a loaded check against the registry (the store validated the row already;
 * this catches definitions the registry cannot run) and computes its assignment expiry.
 */
export function defineCheck(registry: CheckRegistry, check: LoadedCheck): CheckDefinition | MisconfiguredCheck {
  const prepared = prepareCheck(registry, check.type, check.data);
  if (!prepared.ok) {
    const field = prepared.message.split(':')[0] ?? 'data';
    return { id: check.id, name: check.name, field, message: prepared.message };
  }
  const expireAfterMs = prepared.check.deadlineMs(prepared.params) + DEADLINE_MARGIN_MS + ASSIGNMENT_GRACE_MS;
  return { ...check, expireAfterMs };
}

export const isMisconfigured = (c: CheckDefinition | MisconfiguredCheck): c is MisconfiguredCheck => 'field' in c;

/** Whether a reload changed what the machine or the workers need to know. */
export function changed(before: CheckDefinition, after: LoadedCheck): boolean {
  return (
    before.name !== after.name ||
    before.type !== after.type ||
    before.data !== after.data ||
    before.interval !== after.interval ||
    before.delay !== after.delay ||
    before.minRegions !== after.minRegions
  );
}
