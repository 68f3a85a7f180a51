import { basisWords } from '../decide/probe-score.ts';
import type { NotifyLine } from '../log/lines.ts';
import { DEFAULT_REGION } from '../region.ts';
import { checkLabel } from '../text.ts';
import type { CheckSummary, DerivedLine } from './fold.ts';

type TransitionLine = Extract<DerivedLine, { type: 'transition' }>;
type PartialLine = Extract<DerivedLine, { type: 'partial' }>;
type ProbeLine = Extract<DerivedLine, { type: 'probe' }>;

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
  // A region column only when some evidence names one: logs from before regions have none, and
  // workers that name none are all region `default` (a one-region setup reads as before).
  const regional = t.evidence.some((e) => e.region !== undefined && e.region !== DEFAULT_REGION);
  const rows = t.evidence.map((e) => `  ${clock(e.at)}  ${e.worker.padEnd(16)} ${regional ? `${(e.region ?? '-').padEnd(10)} ` : ''}${e.status.padEnd(8)} ${e.message}`);
  return [head, ...rows].join('\n');
}

const regionList = (regions: string[]) => (regions.length > 0 ? regions.join(', ') : 'no region');

/**
 * A partial outage in words: "check 7 (shop) partially down since 03:14:05Z: offline from
 * eu (online from us)", its change of regions, and its end (recovered, or the check itself went offline).
 */
export function explainPartial(p: PartialLine, names?: CheckNames): string {
  const check = checkLabel(p.checkId, names?.get(p.checkId));
  const regions = `offline from ${regionList(p.down)} (online from ${regionList(p.up)})`;
  if (p.phase === 'began') return `${check} partially down since ${clock(p.since)}: ${regions}`;
  if (p.phase === 'changed') return `${check} partial outage (since ${clock(p.since)}) changed at ${clock(p.at)}: ${regions}`;
  const how =
    p.reason === 'offline'
      ? 'the check itself went offline (the decision rule flipped it)'
      : p.reason === 'discounted'
        ? `the workers that saw it offline from ${regionList(p.down)} were flagged as faulty probes`
        : `recovered: online again from ${regionList(p.down)}`;
  return `${check} partial outage (since ${clock(p.since)}, offline from ${regionList(p.down)}) ended at ${clock(p.at)}: ${how}`;
}

/**
 * A faulty-probe verdict in words: "worker w3 flagged as a faulty probe at …: 100 % of its
 * last 20 verdicts overruled; its votes no longer count" (with quarantine = exclude), or released.
 */
export function explainProbe(p: ProbeLine, names?: CheckNames): string {
  const share = `${Math.round(p.ratio * 100)} % of its last ${p.samples} verdicts${basisWords(p.basis)} overruled`;
  const tipped = `(tipped by a result of ${checkLabel(p.checkId, names?.get(p.checkId))})`;
  if (p.verdict === 'flagged') {
    const consequence = p.excluded ? 'its votes no longer count' : 'its votes still count (quarantine = flag)';
    return `worker ${p.worker} flagged as a faulty probe at ${clock(p.at)}: ${share}; ${consequence} ${tipped}`;
  }
  return `worker ${p.worker} released at ${clock(p.at)}: ${share}; its votes count again ${tipped}`;
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

export interface SummaryPolicy {
  confirmations: number;
  delay?: number;
  /** replay --regions: every check's min regions (absent: each check's own, as logged). */
  regions?: number;
  quarantine?: string;
}

/** A worker flagged during the replay: when, and its score then. */
export type FlaggedWorker = Pick<ProbeLine, 'worker' | 'at' | 'samples' | 'ratio' | 'excluded'> & { released?: string };

/**
 * Policy backtest table: per check, how many alerts the policy would have sent, downtime
 * and partial outages; then the workers flagged as faulty probes during the replay.
 */
export function summaryTable(summaries: CheckSummary[], policy: SummaryPolicy, flagged: FlaggedWorker[] = []): string {
  const header =
    `policy: confirmations ${policy.confirmations}, delay ${policy.delay ?? 'as logged'}, ` +
    `regions ${policy.regions ?? 'as logged'}, quarantine ${policy.quarantine ?? 'off'}`;
  const rows = summaries.map(
    (s) =>
      `${String(s.checkId).padStart(8)}  ${String(s.transitions).padStart(11)}  ${String(s.wentOffline).padStart(11)}  ${formatDuration(s.offlineMs).padStart(14)}  ${String(s.partials).padStart(8)}  ${String(s.results).padStart(8)}  ${s.status}`,
  );
  const total = summaries.reduce((acc, s) => ({ t: acc.t + s.transitions, o: acc.o + s.wentOffline, ms: acc.ms + s.offlineMs, p: acc.p + s.partials }), { t: 0, o: 0, ms: 0, p: 0 });
  const probes =
    flagged.length === 0
      ? []
      : [
          '',
          `workers flagged as faulty probes (${flagged.length}):`,
          ...flagged.map(
            (f) =>
              `  ${f.worker} at ${clock(f.at)}: ${Math.round(f.ratio * 100)} % of ${f.samples} verdicts overruled${f.excluded ? ', votes excluded' : ''}${f.released ? `; released at ${clock(f.released)}` : ''}`,
          ),
        ];
  return [
    header,
    `${'check'.padStart(8)}  ${'transitions'.padStart(11)}  ${'went offline'.padStart(11)}  ${'time offline'.padStart(14)}  ${'partial'.padStart(8)}  ${'results'.padStart(8)}  final`,
    ...rows,
    `${'total'.padStart(8)}  ${String(total.t).padStart(11)}  ${String(total.o).padStart(11)}  ${formatDuration(total.ms).padStart(14)}  ${String(total.p).padStart(8)}`,
    ...probes,
  ].join('\n');
}
