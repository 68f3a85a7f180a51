/**
 * Regional outages: some regions see a check offline while others see it online.
 *
 * Each check keeps every worker's latest verdict (its region, status, since when it has said
 * so, how many results in a row). A region is *down* when none of its fresh verdicts agree
 * with the check's status and together they have disagreed `delay + 1` times in a row (the
 * same patience the decision rule has); it is *up* when a fresh verdict agrees. The check is
 * partially down when it is online and at least one region is down while another is up.
 *
 * Pure: time is the results' `at`; `ignore` leaves out workers flagged as faulty probes (a
 * region whose only worker is broken is not a regional outage).
 */
import type { Status } from '../machines/check.ts';

export interface WorkerView {
  region: string;
  status: Status;
  /** `at` of the first result of the current run of equal verdicts. */
  since: number;
  /** Results in that run. */
  count: number;
  /** `at` of the latest result. */
  at: number;
}

export type Views = Map<string, WorkerView>;

/** Records a verdict; returns the view. */
export function observe(views: Views, worker: string, region: string, status: Status, at: number): WorkerView {
  const view = views.get(worker);
  if (view && view.status === status && view.region === region) {
    view.count += 1;
    view.at = Math.max(view.at, at);
    return view;
  }
  const fresh: WorkerView = { region, status, since: at, count: 1, at };
  views.set(worker, fresh);
  return fresh;
}

export interface RegionalJudgement {
  /** Regions seeing the check in the other state, long enough (sorted). */
  down: string[];
  /** Regions where a fresh verdict agrees with the status (sorted). */
  up: string[];
  /** Regions with any fresh verdict, counted or ignored: a region not in it has gone unobserved. */
  seen: Set<string>;
}

export interface RegionalOptions {
  delay: number;
  /** How old a verdict may be and still speak for its worker. */
  freshMs: number;
  ignore?: (worker: string) => boolean;
}

export function judgeRegions(views: Views, status: Status, at: number, options: RegionalOptions): RegionalJudgement {
  const agreeing = new Set<string>();
  const disagreeing = new Map<string, number>();
  const seen = new Set<string>();
  for (const [worker, view] of views) {
    if (at - view.at > options.freshMs) continue;
    seen.add(view.region);
    if (options.ignore?.(worker)) continue;
    if (view.status === status) agreeing.add(view.region);
    else disagreeing.set(view.region, (disagreeing.get(view.region) ?? 0) + view.count);
  }
  const down: string[] = [];
  for (const [region, count] of disagreeing) if (!agreeing.has(region) && count >= options.delay + 1) down.push(region);
  return { down: down.sort(), up: [...agreeing].sort(), seen };
}

export const isPartial = (status: Status, judgement: RegionalJudgement) => status === 'online' && judgement.down.length > 0 && judgement.up.length > 0;

/**
 * Does another worker of the same region currently say what this worker said? Then its
 * overruled vote is its region's view (a regional outage), not a faulty probe.
 */
export function corroborated(views: Views, worker: string, region: string, status: Status, at: number, freshMs: number): boolean {
  for (const [other, view] of views) if (other !== worker && view.region === region && view.status === status && at - view.at <= freshMs) return true;
  return false;
}

/**
 * Whether another worker of `region` than `worker` and `overruler` has a fresh verdict on the
 * check: then the overruler is no witness against the vote it overruled (see the fold).
 */
export function hasWitness(views: Views, worker: string, overruler: string, region: string, at: number, freshMs: number): boolean {
  for (const [other, view] of views) if (other !== worker && other !== overruler && view.region === region && at - view.at <= freshMs) return true;
  return false;
}

/** A verdict speaks for its worker for about one rotation through every worker, plus one interval. */
export function freshness(views: Views, intervalSeconds: number): number {
  return (views.size + 1) * intervalSeconds * 1000;
}

export const sameRegions = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((region, i) => region === b[i]);
