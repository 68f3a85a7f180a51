/**
 * Storm grouping (issue 15 item 3): when many checks notifying one contact flip within a
 * short window (a partition on the monitored side), the contact gets one message listing
 * them instead of one per check. Pure: the delivery actor reads the pending rows, these
 * functions decide what goes together and what the one message says.
 */
import type { OutboxRow } from '../db/outbox.ts';
import { oneLine } from '../text.ts';

/** [controller] stormWindow and stormThreshold; threshold 0 turns grouping off. */
export interface StormPolicy {
  windowMs: number;
  threshold: number;
}

export const stormOn = (policy: StormPolicy | undefined): policy is StormPolicy => policy !== undefined && policy.threshold > 0;

/**
 * The rows to send as one message with `row`: its contact's first-attempt rows whose
 * transitions fall within the window that starts at `row`'s, when there are at least
 * `threshold` of them (null: send `row` on its own). `candidates` are that contact's pending
 * first attempts, `row` among them.
 */
export function stormGroup(row: OutboxRow, candidates: readonly OutboxRow[], policy: StormPolicy): OutboxRow[] | null {
  if (!stormOn(policy) || row.attempts > 0 || row.groupKey !== null) return null;
  const from = row.transitionAt.getTime();
  const members = candidates
    .filter((c) => c.contactId === row.contactId && c.attempts === 0 && c.groupKey === null)
    .filter((c) => c.transitionAt.getTime() >= from && c.transitionAt.getTime() <= from + policy.windowMs)
    .sort((a, b) => a.transitionAt.getTime() - b.transitionAt.getTime() || a.id - b.id);
  if (!members.some((m) => m.id === row.id)) members.unshift(row);
  return members.length >= policy.threshold ? members : null;
}

/** The grouped message's key (its Idempotency-Key, and `group_key` on every row it carries). */
export function groupKeyOf(rows: readonly OutboxRow[]): string {
  const leader = [...rows].sort((a, b) => a.id - b.id)[0]!;
  return `storm/${leader.key}`;
}

/**
 * The one message, as a row the contact types can send: its "check" names how many checks
 * changed, its message lists every check with its status and reason, and its data is the
 * list as JSON (for webhooks). Offline if any check went offline: that is the news.
 */
export function groupedRow(rows: readonly OutboxRow[], key: string): OutboxRow {
  const sorted = [...rows].sort((a, b) => a.transitionAt.getTime() - b.transitionAt.getTime() || a.id - b.id);
  const leader = [...rows].sort((a, b) => a.id - b.id)[0]!;
  const offline = sorted.filter((r) => r.status === 'offline').length;
  const online = sorted.length - offline;
  const counts = [offline > 0 ? `${offline} offline` : '', online > 0 ? `${online} online` : ''].filter(Boolean).join(', ');
  const list = sorted.map((r) => `#${r.check.id} ${oneLine(r.check.name)} ${r.status}${r.status === 'offline' && r.message ? ` (${oneLine(r.message)})` : ''}`);
  return {
    ...leader,
    key,
    groupKey: key,
    status: offline > 0 ? 'offline' : 'online',
    check: {
      id: leader.check.id,
      name: `${sorted.length} checks (${counts})`,
      type: 'group',
      data: JSON.stringify(sorted.map((r) => ({ check_id: r.check.id, name: r.check.name, status: r.status, at: r.transitionAt.toISOString() }))),
    },
    message: `${sorted.length} checks changed at once: ${list.join('; ')}`,
    transitionAt: sorted[0]!.transitionAt,
    workers: [...new Set(sorted.flatMap((r) => r.workers))],
  };
}
