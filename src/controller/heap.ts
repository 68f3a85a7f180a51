/**
 * A binary min-heap of (time, id) with lazy deletion: rescheduling an id pushes a new
 * entry and the stale one is skipped when popped (its time no longer matches). Keeps the
 * controller's per-tick work proportional to what is due, not to the number of checks.
 */
/** Due this long without being run counts as waiting (a check due since the last 100 ms tick does not). */
export const BACKLOG_GRACE_MS = 1000;

export class DueHeap {
  private times: number[] = [];
  private ids: number[] = [];
  private readonly current = new Map<number, number>();

  get size(): number {
    return this.current.size;
  }

  /** Schedules `id` at `time`, replacing any earlier schedule of it. */
  set(id: number, time: number): void {
    this.current.set(id, time);
    this.times.push(time);
    this.ids.push(id);
    this.up(this.times.length - 1);
  }

  delete(id: number): void {
    this.current.delete(id);
  }

  timeOf(id: number): number | undefined {
    return this.current.get(id);
  }

  /**
   * Ids due more than `graceMs` before `now` and still waiting, and how late the oldest is
   * (a scan: call it now and then, not per tick).
   */
  backlog(now: number, graceMs = BACKLOG_GRACE_MS): { checks: number; oldestLateMs: number } {
    let checks = 0;
    let oldest = now;
    for (const time of this.current.values()) {
      if (time > now - graceMs) continue;
      checks += 1;
      if (time < oldest) oldest = time;
    }
    return { checks, oldestLateMs: now - oldest };
  }

  /** Removes and returns the earliest id due at or before `now` (undefined: none due). */
  popOne(now: number): { id: number; dueAt: number } | undefined {
    while (this.times.length > 0 && this.times[0]! <= now) {
      const time = this.times[0]!;
      const id = this.ids[0]!;
      this.removeTop();
      if (this.current.get(id) !== time) continue; // stale entry
      this.current.delete(id);
      return { id, dueAt: time };
    }
    return undefined;
  }

  private removeTop(): void {
    const lastTime = this.times.pop()!;
    const lastId = this.ids.pop()!;
    if (this.times.length === 0) return;
    this.times[0] = lastTime;
    this.ids[0] = lastId;
    this.down(0);
  }

  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
    [this.ids[a], this.ids[b]] = [this.ids[b]!, this.ids[a]!];
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= this.times[i]!) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.times.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < n && this.times[l]! < this.times[smallest]!) smallest = l;
      if (r < n && this.times[r]! < this.times[smallest]!) smallest = r;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }
}
