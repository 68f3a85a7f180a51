import type { Heartbeat } from '../bus/messages.ts';
import { regionOr } from '../region.ts';

/** A worker as the controller sees it. */
export interface WorkerState {
  id: string;
  capacity: number;
  /** Runs this controller has handed it that are not answered yet. */
  inFlight: number;
  lastSeen: number;
  startedAt: number;
  /** Where it runs, from its latest heartbeat: DEFAULT_REGION when it names none (an older worker). */
  region: string;
  /** Its site within the region, when it names one. */
  site?: string;
}

/**
 * Liveness and free capacity of the workers, from their heartbeats. Pure bookkeeping:
 * time is passed in. A worker is alive while its last heartbeat is younger than
 * `timeoutMs`.
 */
export class WorkerTable {
  private readonly workers = new Map<string, WorkerState>();
  /** alive() of one instant, reused within a tick (its entries are the live objects, so slot counts stay current). */
  private aliveAt: { now: number; list: WorkerState[] } | undefined;

  constructor(private readonly timeoutMs: number) {}

  /**
   * Records a heartbeat. Returns whether the worker's region changed from the one known
   * before (a restart with another `[worker] region`), so the caller can log it; a worker
   * not known before has no region to change from.
   */
  heartbeat(beat: Heartbeat, now: number): boolean {
    const known = this.workers.get(beat.worker);
    const region = regionOr(beat.region);
    // A worker joining (or coming back) changes who is alive; a live one's heartbeat does not.
    if (!known || now - known.lastSeen >= this.timeoutMs) this.aliveAt = undefined;
    if (known) {
      const moved = known.region !== region;
      known.capacity = beat.capacity;
      known.lastSeen = now;
      known.startedAt = Date.parse(beat.startedAt);
      known.region = region;
      known.site = beat.site;
      return moved;
    }
    this.workers.set(beat.worker, {
      id: beat.worker,
      capacity: beat.capacity,
      inFlight: 0,
      lastSeen: now,
      startedAt: Date.parse(beat.startedAt),
      region,
      ...(beat.site !== undefined && { site: beat.site }),
    });
    return false;
  }

  /** The region a worker's heartbeats name (undefined: not heard from). */
  regionOf(id: string): string | undefined {
    return this.workers.get(id)?.region;
  }

  isAlive(id: string, now: number): boolean {
    const worker = this.workers.get(id);
    return worker !== undefined && now - worker.lastSeen < this.timeoutMs;
  }

  /** Live workers, in a stable order (by id) so rotation is deterministic. */
  alive(now: number): WorkerState[] {
    if (this.aliveAt?.now === now) return this.aliveAt.list;
    const list = [...this.workers.values()].filter((w) => now - w.lastSeen < this.timeoutMs).sort((a, b) => (a.id < b.id ? -1 : 1));
    this.aliveAt = { now, list };
    return list;
  }

  /** Workers whose heartbeat stopped since the last call; they are forgotten. */
  reapDead(now: number): string[] {
    const dead: string[] = [];
    for (const worker of this.workers.values()) {
      if (now - worker.lastSeen >= this.timeoutMs) dead.push(worker.id);
    }
    for (const id of dead) this.workers.delete(id);
    if (dead.length > 0) this.aliveAt = undefined;
    return dead;
  }

  reserve(id: string): void {
    const worker = this.workers.get(id);
    if (worker) worker.inFlight += 1;
  }

  release(id: string): void {
    const worker = this.workers.get(id);
    if (worker && worker.inFlight > 0) worker.inFlight -= 1;
  }

  all(): WorkerState[] {
    return [...this.workers.values()];
  }
}

/**
 * Picks the worker for a run: alive, with a free slot, not excluded; preferring one other
 * than `avoid` (rotation, SPEC §3), but taking `avoid` when it is the only one. `cursor`
 * spreads load round-robin among equals.
 */
export function chooseWorker(alive: WorkerState[], options: { exclude?: ReadonlySet<string>; avoid?: string; cursor: number }): WorkerState | undefined {
  const eligible = alive.filter((w) => w.inFlight < w.capacity && !options.exclude?.has(w.id));
  if (eligible.length === 0) return undefined;
  const preferred = eligible.filter((w) => w.id !== options.avoid);
  const pool = preferred.length > 0 ? preferred : eligible;
  // Rotation per check: the next worker after the last one (by id), so every worker gets its
  // turn. (A shared cursor skipping `avoid` can fall into step with it and starve a worker.)
  if (options.avoid !== undefined && pool.length > 1) return pool.find((w) => w.id > options.avoid!) ?? pool[0];
  return pool[options.cursor % pool.length];
}
