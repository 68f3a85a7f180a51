/**
 * `bearmon apply`: the steps of a plan, run in one transaction, so a file that cannot be
 * applied whole writes nothing.
 */
import type { Inventory, Writer } from './repository.ts';
import { contactName } from './repository.ts';
import type { Step } from './plan.ts';

/** Runs the steps in order (planApply's order: what alerts name exists before the alert). */
export async function runSteps(steps: readonly Step[], current: Inventory, write: Writer): Promise<void> {
  const checkIds = new Map(current.checks.map((c) => [c.name, c.id]));
  const contactIds = new Map(current.contacts.map((c) => [contactName(c), c.id]));
  for (const step of steps) {
    if (step.kind === 'contact') {
      if (step.action === 'create') contactIds.set(step.name, await write.insertContact(step.spec));
      else if (step.action === 'update') await write.updateContact(step.id, step.spec);
      else await write.deleteContact(step.id);
    } else if (step.kind === 'maintenance') {
      await write.maintenance(step, checkIds);
    } else if (step.kind === 'check') {
      if (step.action === 'create') checkIds.set(step.name, await write.insertCheck(step.spec));
      else if (step.action === 'update') await write.updateCheck(step.id, step.spec);
      else await write.deleteCheck(step.id);
    } else if (step.action === 'create') {
      const checkId = checkIds.get(step.check);
      const contactId = contactIds.get(step.contact);
      // unknownReferences() refused such a file before planning: reaching this is a bug.
      if (checkId === undefined || contactId === undefined) throw new Error(`alert ${step.name}: its check or contact does not exist`);
      await write.insertAlert(checkId, contactId, step.type, step.enabled, step.remind);
    } else if (step.action === 'update') await write.updateAlert(step.id, step.type, step.enabled, step.remind);
    else await write.deleteAlert(step.id);
  }
}
