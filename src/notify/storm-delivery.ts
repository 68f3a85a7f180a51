/**
 * The delivery of one grouped (storm) message: the ordinary stages (dedup → start → send →
 * retry → record) over the group's rows at once. The stages see one row — the grouped
 * message (groupedRow) — and an outbox whose claim, start and record act on every row the
 * message carries, in one transaction each (src/db/storm-outbox.ts).
 */
import type { ContactRegistry } from '../contacts/registry.ts';
import type { ContactContext } from '../contacts/types.ts';
import type { Claimant, Outbox, OutboxRow } from '../db/outbox.ts';
import type { StormOutbox } from '../db/storm-outbox.ts';
import type { Logger } from '../log.ts';
import type { DeliveryPolicy } from './policy.ts';
import { dedupStage, pipeline, recordStage, retryStage, sendStage, startStage, type DeliveryReport } from './stages.ts';
import { groupedRow } from './storm.ts';

export interface GroupDeps {
  outbox: Outbox;
  storm: StormOutbox;
  registry: ContactRegistry;
  ctx: ContactContext;
  policy: DeliveryPolicy;
  who: Claimant;
  log: Logger;
  now: () => number;
  /** Reports the one attempt: `carried` are the rows (as claimed) the message carried. */
  report: (report: DeliveryReport, carried: readonly OutboxRow[]) => void;
}

/** Sends the rows as one message under `key`; resolves when its outcome is recorded (or it was not claimed). */
export async function deliverGroup(deps: GroupDeps, members: readonly OutboxRow[], key: string): Promise<void> {
  let carried: readonly OutboxRow[] = members;
  const message = groupedRow(members, key);
  const outbox: Outbox = {
    ...deps.outbox,
    claim: async (_row, who, at) => {
      const claimed = await deps.storm.claim(carried, key, who, at);
      if (!claimed) return null;
      carried = claimed;
      return { ...message, state: 'sending', attempts: claimed[0]!.attempts, claimedView: who.view, claimedBy: who.controller, claimedAt: at, sendStartedAt: null };
    },
    startSend: (_row, who) => deps.storm.startSend(carried, who),
    record: (_row, outcome) => deps.storm.record(carried, outcome),
  };
  const run = pipeline([
    dedupStage({ outbox, who: deps.who, now: deps.now }),
    startStage({ outbox, who: deps.who }),
    sendStage({ registry: deps.registry, ctx: deps.ctx, policy: deps.policy }),
    retryStage({ policy: deps.policy, now: deps.now }),
    recordStage({ outbox, now: deps.now, log: deps.log, report: (r) => deps.report(r, carried) }),
  ]);
  await run({ row: message });
}
