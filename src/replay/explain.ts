import type { NotifyLine } from '../log/lines.ts';
import { checkLabel } from '../text.ts';
import type { CheckSummary, DerivedLine } from './fold.ts';

type TransitionLine = Extract<DerivedLine, { type: 'transition' }>;

const clock = (iso: string) => iso.replace('T', ' ').replace(/\.000Z$|Z$/, 'Z');

/** Check names by id, as the log's `check` lines carry them. */
export type CheckNames = ReadonlyMap<number, string>;

/**
 * "Why did check 12 go offline at 03:14?" in words: the rule's parameters, when the
 * suspicion began, and every counted result (worker, time, verdict, message).
 */
export function explainTransition(t: TransitionLine, names?: CheckNames): string {
  const head =
    `${checkLabel(t.checkId, names?.get(t.checkId))} went ${t.to} at ${clock(t.at)} (was ${t.from}): ` +
    `${t.rounds} round(s) of ${t.confirmations} distinct worker(s) disagreed, delay ${t.delay}, ` +
    `suspected since ${clock(t.pendingSince)}`;
  const rows = t.evidence.map((e) => `  ${clock(e.at)}  ${e.worker.padEnd(16)} ${e.status.padEnd(8)} ${e.message}`);
  return [head, ...rows].join('\n');
}

/** One delivery outcome under the transitions: "notify check 7 (shop) contact 3 (email), attempt 1: delivered — 250 OK". */
export function explainNotify(n: NotifyLine, names?: CheckNames): string {
  const head = `  ${clock(new Date(n.at).toISOString())}  notify ${checkLabel(n.checkId, names?.get(n.checkId))} contact ${n.contact} (${n.contactType})`;
  // A maintenance window's hold and its end: the message says it all ("held: maintenance nightly until …").
  if (HOLD_OUTCOMES.has(n.outcome)) return `${head}: ${n.outcome === 'held' ? '' : `${n.outcome}, `}${n.message}`;
  const next = n.nextAttemptAt ? ` (next attempt ${clock(n.nextAttemptAt)})` : '';
  const carried = n.carriedBy ? `; carried by message ${n.carriedBy} (one message for ${n.carried ?? '?'} notifications)` : '';
  return `${head}, attempt ${n.attempt}: ${n.outcome}${next} — ${n.message}${carried}`;
}

const HOLD_OUTCOMES = new Set(['held', 'released', 'skipped', 'extended']);

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor((s % 86400) / 3600), 'h'], [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']] as const;
  const shown = parts.filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`);
  return shown.length ? shown.join(' ') : '0s';
}

/** Policy backtest table: per check, how many alerts the policy would have sent and downtime. */
export function summaryTable(summaries: CheckSummary[], policy: { confirmations: number; delay?: number }): string {
  const header = `policy: confirmations ${policy.confirmations}, delay ${policy.delay ?? 'as logged'}`;
  const rows = summaries.map(
    (s) =>
      `${String(s.checkId).padStart(8)}  ${String(s.transitions).padStart(11)}  ${String(s.wentOffline).padStart(11)}  ${formatDuration(s.offlineMs).padStart(14)}  ${String(s.results).padStart(8)}  ${s.status}`,
  );
  const total = summaries.reduce((acc, s) => ({ t: acc.t + s.transitions, o: acc.o + s.wentOffline, ms: acc.ms + s.offlineMs }), { t: 0, o: 0, ms: 0 });
  return [
    header,
    `${'check'.padStart(8)}  ${'transitions'.padStart(11)}  ${'went offline'.padStart(11)}  ${'time offline'.padStart(14)}  ${'results'.padStart(8)}  final`,
    ...rows,
    `${'total'.padStart(8)}  ${String(total.t).padStart(11)}  ${String(total.o).padStart(11)}  ${formatDuration(total.ms).padStart(14)}`,
  ].join('\n');
}
