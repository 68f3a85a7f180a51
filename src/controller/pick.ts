import { chooseWorker, type WorkerState } from './workers.ts';

/**
 * The workers a suspected change is confirmed by: enough distinct workers for
 * `confirmations` and, for a check that asks for it, enough distinct regions for
 * `minRegions`. Workers of regions not yet heard from come first, so a round can complete
 * instead of collecting votes from one data centre. Pure: the caller assigns the runs.
 */
export interface ConfirmerRequest {
  /** Workers more (distinct from `busy`) the round needs. */
  workers: number;
  /** Distinct regions the round needs in all. */
  minRegions: number;
  /** Regions already in the round (its votes, and runs still out). */
  covered: ReadonlySet<string>;
  /** Workers already in the round or with a run of the check out. */
  busy: ReadonlySet<string>;
  /** The worker that ran the check last (rotation): not first choice. */
  avoid?: string;
  cursor: number;
}

export function pickConfirmers(alive: WorkerState[], request: ConfirmerRequest): WorkerState[] {
  const chosen: WorkerState[] = [];
  const busy = new Set(request.busy);
  const covered = new Set(request.covered);
  let cursor = request.cursor;
  const stillNeeded = () => request.workers - chosen.length > 0 || covered.size < request.minRegions;
  while (stillNeeded()) {
    const avoid = chosen.length === 0 ? request.avoid : undefined;
    const newRegion = covered.size < request.minRegions ? chooseWorker(alive.filter((w) => !covered.has(w.region)), { exclude: busy, avoid, cursor: cursor++ }) : undefined;
    const worker = newRegion ?? (request.workers - chosen.length > 0 ? chooseWorker(alive, { exclude: busy, avoid, cursor: cursor++ }) : undefined);
    if (!worker) break;
    chosen.push(worker);
    busy.add(worker.id);
    covered.add(worker.region);
  }
  return chosen;
}
