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
  /** A partial outage began, changed its regions, or ended. */
  partial?(phase: string): void;
  notification(contactType: string, outcome: string): void;
  viewChanged(view: number, hasController: boolean): void;
  /** Values read at scrape time (worker load, the controller's checks); replaces an earlier source of that name. */
  source(name: 'worker' | 'controller' | 'checks', read: (() => SourceValues) | undefined): void;
  /** An accepted online result's run time, by worker and check (the controller's view of latency). */
  checkDuration(worker: string, checkId: number, seconds: number): void;
  /** Rollup increments the history writer could not keep (its batch was full while MySQL was away). */
  historyDropped(resolution: 'fine' | 'hourly', increments: number): void;
  /** A history flush: rows written, or a failed attempt (the rows wait for the next); rows still waiting after it. */
  historyFlush(outcome: 'written' | 'failed', rows: number, pending: number): void;
}

/** One check as the per-check gauges show it. */
export interface CheckSeries {
  id: number;
  type: string;
  state: 'online' | 'offline' | 'pending' | 'misconfigured';
  /** The confirmed status (a pending check is still what it was); absent for a misconfigured one. */
  status?: 'online' | 'offline';
  /** Regions seeing it offline while others see it online (a partial outage in progress). */
  partialDown?: string[];
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
  /** Every check, for the per-check series (source 'checks'). */
  perCheck?: CheckSeries[];
  /** Checks partially down now. */
  partial?: number;
  /** Faulty-probe scores of the workers (quarantine on). */
  probes?: { worker: string; ratio: number; flagged: boolean; excluded: boolean }[];
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
  checkDuration: () => {},
  historyDropped: () => {},
  historyFlush: () => {},
};

export interface ProcessMetrics extends Metrics {
  registry: Registry;
}

const CHECK_STATES = ['online', 'offline', 'pending', 'misconfigured'];

/** bearmon_check_state's values: ordered by how bad, so `max by (...)` picks the worst. */
export const CHECK_STATE_VALUES: Readonly<Record<CheckSeries['state'], number>> = { online: 0, pending: 1, offline: 2, misconfigured: 3 };

/**
 * Buckets of bearmon_check_duration_seconds. Eight: the series count is checks × workers ×
 * (8 + 3), the one per-check metric that multiplies by workers, so it is kept short.
 */
export const CHECK_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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
  const partials = new Counter({ name: 'bearmon_controller_partial_outages_total', help: 'Partial outages (some regions see a check offline, others online), by phase: began, changed (its regions), ended.', labelNames: ['phase'], registers });
  new Gauge({ name: 'bearmon_controller_checks_partial', help: 'Checks partially down now: offline from some regions, online from others.', registers, collect() { this.set(read('controller')?.partial ?? 0); } });
  new Gauge({
    name: 'bearmon_controller_worker_contradiction_ratio',
    help: "Share of a worker's verdicts the others' decision contradicted, over [controller] probeWindow (faulty-probe score; absent with quarantine = off).",
    labelNames: ['worker'],
    registers,
    collect() {
      this.reset();
      for (const p of read('controller')?.probes ?? []) this.set({ worker: p.worker }, p.ratio);
    },
  });
  new Gauge({
    name: 'bearmon_controller_worker_flagged',
    help: 'Workers flagged as faulty probes: 1 flagged (votes still count), 2 quarantined (votes do not count), 0 neither.',
    labelNames: ['worker'],
    registers,
    collect() {
      this.reset();
      for (const p of read('controller')?.probes ?? []) this.set({ worker: p.worker }, p.excluded ? 2 : p.flagged ? 1 : 0);
    },
  });
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
  // Per-check series: labels are the check id and its type (bounded by the checks table;
  // names are left out because they change and are free text). Rebuilt from the
  // controller's checks at each scrape, so a deleted check's series go away.
  // Three metrics read it per scrape: one read (a walk over every check) serves them all.
  let perCheckRead: { at: number; checks: CheckSeries[] | undefined } | undefined;
  const perCheck = () => {
    const at = Date.now();
    if (!perCheckRead || at - perCheckRead.at > 1000) perCheckRead = { at, checks: read('checks')?.perCheck };
    return perCheckRead.checks;
  };
  new Gauge({
    name: 'bearmon_check_up',
    help: 'Whether the check is online (1) or offline (0) by its confirmed status; a pending check keeps its status until the change is confirmed. Misconfigured checks have no series.',
    labelNames: ['check_id', 'type'],
    registers,
    collect() {
      this.reset();
      for (const c of perCheck() ?? []) if (c.status) this.set({ check_id: String(c.id), type: c.type }, c.status === 'online' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bearmon_check_state',
    help: 'State of the check as the controller sees it: 0 online, 1 pending (a change is being confirmed), 2 offline, 3 misconfigured.',
    labelNames: ['check_id', 'type'],
    registers,
    collect() {
      this.reset();
      for (const c of perCheck() ?? []) if (c.id > 0) this.set({ check_id: String(c.id), type: c.type }, CHECK_STATE_VALUES[c.state]);
    },
  });
  new Gauge({
    name: 'bearmon_check_partial_down',
    help: 'A partial outage in progress: 1 for each region that sees the check offline while another region sees it online (no series otherwise).',
    labelNames: ['check_id', 'type', 'region'],
    registers,
    collect() {
      this.reset();
      for (const c of perCheck() ?? []) for (const region of c.partialDown ?? []) this.set({ check_id: String(c.id), type: c.type, region }, 1);
    },
  });
  /** Label sets of the duration histogram, by check: pruned when a check is gone. */
  const durationSeries = new Map<number, Set<string>>();
  const checkSeconds = new Histogram({
    name: 'bearmon_check_duration_seconds',
    help: 'Run time of accepted online results, by worker and check (the controller\'s view; failures are in bearmon_check_up and the history).',
    labelNames: ['worker', 'check_id'],
    buckets: CHECK_DURATION_BUCKETS,
    registers,
    collect() {
      const checks = perCheck();
      if (!checks) {
        // Not the controller (any more): what it recorded as controller is stale.
        this.reset();
        durationSeries.clear();
        return;
      }
      const known = new Set(checks.map((c) => c.id));
      for (const [checkId, workers] of durationSeries) {
        if (known.has(checkId)) continue;
        for (const worker of workers) this.remove({ worker, check_id: String(checkId) });
        durationSeries.delete(checkId);
      }
    },
  });
  const historyDropped = new Counter({
    name: 'bearmon_history_dropped_total',
    help: 'Rollup increments the history writer dropped because its batch was full (MySQL away for long), by resolution; `bearmon history rebuild` restores them from the result log.',
    labelNames: ['resolution'],
    registers,
  });
  const historyRows = new Counter({ name: 'bearmon_history_rows_written_total', help: 'Rollup rows the history writer upserted into MySQL.', registers });
  const historyFailures = new Counter({ name: 'bearmon_history_flush_failures_total', help: 'History flushes that failed (MySQL unreachable); their rows wait for the next.', registers });
  const historyPending = new Gauge({ name: 'bearmon_history_pending_rows', help: 'Rollup rows waiting in memory for the next history flush.', registers });
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
    partial: (phase) => partials.inc({ phase }),
    notification: (contactType, outcome) => notifications.inc({ contact_type: contactType, outcome }),
    viewChanged: (number, hasController) => {
      view.set(number);
      viewChanges.inc({ controller: hasController ? 'named' : 'none' });
    },
    source: (name, reader) => {
      if (reader) sources.set(name, reader);
      else sources.delete(name);
      if (name === 'checks') perCheckRead = undefined;
    },
    checkDuration: (worker, checkId, seconds) => {
      let workers = durationSeries.get(checkId);
      if (!workers) durationSeries.set(checkId, (workers = new Set()));
      workers.add(worker);
      checkSeconds.observe({ worker, check_id: String(checkId) }, seconds);
    },
    historyDropped: (resolution, increments) => historyDropped.inc({ resolution }, increments),
    historyFlush: (outcome, rows, pending) => {
      if (outcome === 'written') historyRows.inc(rows);
      else historyFailures.inc();
      historyPending.set(pending);
    },
  };
}
