import type { NatsConnection } from '@nats-io/transport-node';
import { subject } from '../bus/subjects.ts';
import type { CheckStatus, ControllerStatus } from '../controller/status.ts';

const age = (ms: number | undefined) => (ms === undefined ? '-' : ms < 1000 ? `${ms}ms` : ms < 120_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`);

function describeCheck(check: CheckStatus): string {
  if (check.state === 'misconfigured') return `${String(check.id).padStart(6)}  ${check.name.padEnd(24)} ${'-'.padEnd(10)} misconfigured  ${check.problem}`;
  const progress = check.state === 'pending' ? ` ${check.suspected}? round ${(check.rounds ?? 0) + 1}/${check.of}, ${check.turn?.length ?? 0}/${check.confirmations} confirmed (${check.turn?.join(',') || '-'})` : '';
  const results = Object.entries(check.lastResults ?? {})
    .map(([worker, r]) => `${worker}=${r.status} ${age(r.ageMs)} ago`)
    .join(', ');
  return `${String(check.id).padStart(6)}  ${check.name.slice(0, 24).padEnd(24)} ${check.type.padEnd(10)} ${check.state.padEnd(14)} next run in ${age(check.nextRunInMs)}${progress}${results ? `  [${results}]` : ''}`;
}

/** `bearmon status`: what the controller knows, as a table (or JSON for scripts). */
export function formatStatus(status: ControllerStatus): string {
  const quorum = status.quorum ? 'ok' : `LOST: fewer than ${status.confirmations} live workers, no check can change state`;
  const workers = status.workers.map((w) => `  ${w.id.padEnd(20)} ${w.inFlight}/${w.capacity} busy, heartbeat ${age(w.lastSeenMs)} ago, up ${age(w.upMs)}`);
  return [
    `controller ${status.controller} (view ${status.view}) at ${status.at}; confirmations ${status.confirmations}; quorum ${quorum}`,
    `workers (${status.workers.length} alive):`,
    ...workers,
    ...(status.backlog && status.backlog.checks > 0
      ? [`OVERLOADED: ${status.backlog.checks} check(s) due wait for a free worker slot, the oldest ${age(status.backlog.oldestLateMs)} late (every check still runs, in turn)`]
      : []),
    describeNotifications(status),
    `checks (${status.checks.length}):`,
    ...status.checks.map(describeCheck),
  ].join('\n');
}

function describeNotifications({ notifications: n }: ControllerStatus): string {
  if (!n) return 'notifications: unknown (the outbox could not be read)';
  const open = `${n.pending} pending, ${n.sending} sending${n.oldestOpen ? ` (oldest since ${n.oldestOpen})` : ''}`;
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
    throw new Error(/no responders|timeout/i.test(message) ? `no controller answered on ${subject.control('status')} (${message})` : message);
  }
}
