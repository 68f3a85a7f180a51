import type { NatsConnection } from '@nats-io/transport-node';
import { subject } from '../bus/subjects.ts';
import type { CheckStatus, ControllerStatus, WorkerStatus } from '../controller/status.ts';
import { renderTable, type Cell } from './table.ts';

const age = (ms: number | undefined) => (ms === undefined ? '-' : ms < 1000 ? `${ms}ms` : ms < 120_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`);

/** What a pending check waits for: which way, the round of delay+1, the workers that agreed so far. */
function progress(check: CheckStatus): string | undefined {
  if (check.state !== 'pending') return undefined;
  return `${check.suspected}? round ${(check.rounds ?? 0) + 1}/${check.of}, ${check.turn?.length ?? 0}/${check.confirmations} confirmed (${check.turn?.join(',') || '-'})`;
}

function detail(check: CheckStatus): string | undefined {
  if (check.state === 'misconfigured') return check.problem;
  const results = Object.entries(check.lastResults ?? {}).map(([worker, r]) => `${worker}=${r.status} ${age(r.ageMs)} ago`);
  const partial = check.partial ? `partially down since ${check.partial.since} (online from ${check.partial.up.join(',') || '-'})` : undefined;
  const regions = check.minRegions !== undefined && check.minRegions > 1 ? `needs ${check.minRegions} regions` : undefined;
  const parts = [progress(check), partial, regions, results.length > 0 ? results.join(', ') : undefined].filter((p) => p !== undefined);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The window in force over a check that ends last (its notifications are held until then). */
function maintenanceOf(check: CheckStatus, status: ControllerStatus) {
  const covering = (status.maintenance ?? []).filter((w) => w.checkId === null || w.checkId === check.id);
  return covering.sort((a, b) => b.until.localeCompare(a.until))[0];
}

function checkRow(check: CheckStatus, status: ControllerStatus): Cell[] {
  const next = check.state === 'misconfigured' || check.nextRunInMs === undefined ? undefined : `in ${age(check.nextRunInMs)}`;
  const window = maintenanceOf(check, status);
  const marker = window ? `in maintenance ${window.name} until ${window.until}` : undefined;
  const more = [marker, detail(check)].filter((p) => p !== undefined);
  const state = `${window ? `${check.state} (maintenance)` : check.state}${check.partial ? `, partial: offline from ${check.partial.down.join(',')}` : ''}`;
  return [check.id, check.name, check.type || undefined, state, next, more.length > 0 ? more.join('; ') : undefined];
}

/** `bearmon status`: what the controller knows, as tables (or JSON for scripts). */
export function formatStatus(status: ControllerStatus): string {
  const quorum = status.quorum ? 'ok' : `LOST: fewer than ${status.confirmations} live workers, no check can change state`;
  const workers = status.workers.map((w) => [w.id, `${w.inFlight}/${w.capacity}`, `${age(w.lastSeenMs)} ago`, age(w.upMs), w.region, w.site, probeScore(w)]);
  return [
    `controller ${status.controller} (view ${status.view}) at ${status.at}; confirmations ${status.confirmations}; quorum ${quorum}`,
    ...(status.backlog && status.backlog.checks > 0
      ? [`OVERLOADED: ${status.backlog.checks} check(s) due wait for a free worker slot, the oldest ${age(status.backlog.oldestLateMs)} late (every check still runs, in turn)`]
      : []),
    describeNotifications(status),
    ...(status.quarantine ? [describeQuarantine(status)] : []),
    '',
    `workers (${status.workers.length} alive):`,
    ...(workers.length > 0 ? [renderTable(['WORKER', 'BUSY', 'HEARTBEAT', 'UP', 'REGION', 'SITE', 'PROBE'], workers, { align: ['left', 'right', 'right', 'right'] })] : []),
    '',
    `checks (${status.checks.length}):`,
    ...(status.checks.length > 0
      ? [renderTable(['ID', 'NAME', 'TYPE', 'STATE', 'NEXT RUN', 'DETAIL'], status.checks.map((c) => checkRow(c, status)), { align: ['right'] })]
      : []),
  ].join('\n');
}

/**
 * A worker's faulty-probe score: "2/20 overruled (10 %)", with "; 4/4 on down checks" when it
 * has verdicts on checks that were down, and whether it is flagged or quarantined (its votes not counted).
 */
function probeScore(w: WorkerStatus): string | undefined {
  if (!w.probe) return undefined;
  const down = w.probe.down && w.probe.down.samples > 0 ? `; ${w.probe.down.contradictions}/${w.probe.down.samples} on down checks` : '';
  const score = `${w.probe.contradictions}/${w.probe.samples} overruled (${Math.round(w.probe.ratio * 100)} %)${down}`;
  return w.probe.excluded ? `${score}, QUARANTINED` : w.probe.flagged ? `${score}, FLAGGED` : score;
}

const QUARANTINE_MEANING: Record<string, string> = {
  off: 'workers are not scored',
  flag: 'a worker overruled too often is flagged; its votes still count',
  exclude: "a worker overruled too often is flagged and its votes do not count (audit runs only); quorum is counted without it",
};

function describeQuarantine(status: ControllerStatus): string {
  const flagged = status.workers.filter((w) => w.probe?.flagged).map((w) => `${w.id}${w.probe?.excluded ? ' (quarantined)' : ''}`);
  return `quarantine: ${status.quarantine} (${QUARANTINE_MEANING[status.quarantine!] ?? 'unknown mode'})${flagged.length > 0 ? `; flagged: ${flagged.join(', ')}` : ''}`;
}

function describeNotifications({ notifications: n }: ControllerStatus): string {
  if (!n) return 'notifications: unknown (the outbox could not be read)';
  const open = `${n.pending} pending, ${n.sending} sending${n.oldestOpen ? ` (oldest since ${n.oldestOpen})` : ''}${n.held ? `, ${n.held} held by maintenance` : ''}`;
  return `notifications: ${open}; last 24 h: ${n.lastDay.delivered} delivered, ${n.lastDay.failed} failed, ${n.lastDay.unconfirmed} unconfirmed`;
}

export async function requestStatus(nc: NatsConnection, timeoutMs = 3000): Promise<ControllerStatus> {
  try {
    // The controller answers a page of checks at a time (a reply must fit the server's max_payload).
    const first = (await nc.request(subject.control('status'), '', { timeout: timeoutMs })).json<ControllerStatus & { page?: { offset: number; total: number } }>();
    const checks = [...first.checks];
    const total = first.page?.total ?? checks.length;
    while (checks.length < total) {
      const next = (await nc.request(subject.control('status'), JSON.stringify({ offset: checks.length }), { timeout: timeoutMs })).json<ControllerStatus>();
      if (next.checks.length === 0) break;
      checks.push(...next.checks);
    }
    const { page: _page, ...status } = first;
    return { ...status, checks };
  } catch (err) {
    const message = (err as Error).message;
    // The cause stays attached: exitCodeFor() tells "no controller answered" (exit 3) by it.
    throw new Error(/no responders|timeout/i.test(message) ? `no controller answered on ${subject.control('status')} (${message})` : message, { cause: err });
  }
}
