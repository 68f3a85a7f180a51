import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * What bearmon counts, as named recordings: the actors call these and never see
 * prom-client. One instance per process (a fresh Registry: no module-level state), passed
 * down from the CLI; actors default to `noMetrics`.
 */
export interface Metrics {
  runCompleted(checkType: string, status: string, durationMs: number): void;
  runDropped(reason: 'bad-request' | 'old-view' | 'queue-full' | 'not-from-controller' | 'duplicate'): void;
  /** A message skipped because its subject, publisher or view does not allow what it says (SPEC §8). */
  untrusted(where: 'log' | 'result' | 'heartbeat' | 'pong' | 'view', reason: string): void;
  /** A worker's clock against the controller's (result time − receipt time), seconds. */
  clockSkew(worker: string, seconds: number): void;
  resultHandled(outcome: 'accepted' | 'rejected' | 'malformed' | 'unknown-check'): void;
  transition(to: string): void;
  notification(contactType: string, outcome: string): void;
  viewChanged(view: number, hasController: boolean): void;
  /** Values read at scrape time (worker load, the controller's checks); replaces an earlier source of that name. */
  source(name: 'worker' | 'controller', read: (() => SourceValues) | undefined): void;
}

/** Gauges read when scraped. */
export interface SourceValues {
  running?: number;
  queued?: number;
  checks?: Record<string, number>;
  workersAlive?: number;
  quorum?: boolean;
  view?: number;
  /** Checks due and waiting for a free worker slot. */
  backlog?: number;
}

export const noMetrics: Metrics = {
  runCompleted: () => {},
  runDropped: () => {},
  untrusted: () => {},
  clockSkew: () => {},
  resultHandled: () => {},
  transition: () => {},
  notification: () => {},
  viewChanged: () => {},
  source: () => {},
};

export interface ProcessMetrics extends Metrics {
  registry: Registry;
}

const CHECK_STATES = ['online', 'offline', 'pending', 'misconfigured'];

export function createMetrics(): ProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bearmon_' });
  const sources = new Map<string, () => SourceValues>();
  const read = (name: string) => {
    try {
      return sources.get(name)?.();
    } catch {
      return undefined; // a scrape must never break on a source that is going away
    }
  };
  const registers = [registry];

  const runs = new Counter({ name: 'bearmon_worker_runs_total', help: 'Check runs finished by this worker, by check type and verdict.', labelNames: ['type', 'status'], registers });
  const runSeconds = new Histogram({
    name: 'bearmon_worker_run_duration_seconds',
    help: 'Duration of check runs by type.',
    labelNames: ['type'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const dropped = new Counter({ name: 'bearmon_worker_requests_dropped_total', help: 'Run requests this worker refused, by reason.', labelNames: ['reason'], registers });
  new Gauge({ name: 'bearmon_worker_running', help: 'Checks running now.', registers, collect() { this.set(read('worker')?.running ?? 0); } });
  new Gauge({ name: 'bearmon_worker_queued', help: 'Run requests waiting for a free slot.', registers, collect() { this.set(read('worker')?.queued ?? 0); } });

  const untrusted = new Counter({
    name: 'bearmon_untrusted_messages_total',
    help: 'Messages skipped because their subject, publisher or view does not allow what they say, by where they were read and why.',
    labelNames: ['where', 'reason'],
    registers,
  });
  const skew = new Gauge({
    name: 'bearmon_controller_worker_clock_skew_seconds',
    help: "A worker's clock against the controller's at its last result (result time minus receipt time; positive: the worker runs ahead).",
    labelNames: ['worker'],
    registers,
  });
  const results = new Counter({ name: 'bearmon_controller_results_total', help: 'Results that reached the controller, by what it did with them.', labelNames: ['outcome'], registers });
  const transitions = new Counter({ name: 'bearmon_controller_transitions_total', help: 'Checks that changed state, by new state.', labelNames: ['to'], registers });
  new Gauge({
    name: 'bearmon_controller_checks',
    help: 'Checks by state, as the controller sees them (0 when this process is not the controller).',
    labelNames: ['state'],
    registers,
    collect() {
      const checks = read('controller')?.checks ?? {};
      for (const state of CHECK_STATES) this.set({ state }, checks[state] ?? 0);
    },
  });
  new Gauge({ name: 'bearmon_controller_active', help: '1 while this process acts as the controller.', registers, collect() { this.set(sources.has('controller') ? 1 : 0); } });
  new Gauge({ name: 'bearmon_controller_workers_alive', help: 'Workers the controller hears heartbeats from.', registers, collect() { this.set(read('controller')?.workersAlive ?? 0); } });
  new Gauge({ name: 'bearmon_controller_quorum', help: '1 when enough workers are alive to confirm changes.', registers, collect() { this.set(read('controller')?.quorum ? 1 : 0); } });
  new Gauge({ name: 'bearmon_controller_backlog', help: 'Checks due and waiting for a free worker slot (above 0 for long: overloaded).', registers, collect() { this.set(read('controller')?.backlog ?? 0); } });
  new Gauge({ name: 'bearmon_controller_view', help: 'The view this controller acts under.', registers, collect() { this.set(read('controller')?.view ?? 0); } });
  const notifications = new Counter({ name: 'bearmon_notifications_total', help: 'Notification attempt outcomes, by contact type and outcome.', labelNames: ['contact_type', 'outcome'], registers });
  const view = new Gauge({ name: 'bearmon_viewserver_view', help: 'The current view number.', registers });
  const viewChanges = new Counter({ name: 'bearmon_viewserver_view_changes_total', help: 'Views published, by whether they name a controller.', labelNames: ['controller'], registers });

  return {
    registry,
    runCompleted: (type, status, ms) => {
      runs.inc({ type, status });
      runSeconds.observe({ type }, ms / 1000);
    },
    runDropped: (reason) => dropped.inc({ reason }),
    untrusted: (where, reason) => untrusted.inc({ where, reason }),
    clockSkew: (worker, seconds) => skew.set({ worker }, seconds),
    resultHandled: (outcome) => results.inc({ outcome }),
    transition: (to) => transitions.inc({ to }),
    notification: (contactType, outcome) => notifications.inc({ contact_type: contactType, outcome }),
    viewChanged: (number, hasController) => {
      view.set(number);
      viewChanges.inc({ controller: hasController ? 'named' : 'none' });
    },
    source: (name, reader) => {
      if (reader) sources.set(name, reader);
      else sources.delete(name);
    },
  };
}
