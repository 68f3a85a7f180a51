/**
 * Uptime from recorded transitions (gobearmon's check_events: type online/offline, time).
 * Pure: the caller reads the rows and passes the clock.
 */
export type CheckState = 'online' | 'offline';

export interface StateEvent {
  /** ms since the epoch */
  at: number;
  type: CheckState;
}

export interface CheckTimeline {
  /** Every event of the check, oldest first (ties in id order). */
  events: readonly StateEvent[];
  /**
   * From when the check is known (its first rollup or event, whichever is earlier), or
   * undefined when it is known for all time (no rollups: see knownSince).
   */
  since?: number;
}

/**
 * Where a check's record begins. With rollups, the earlier of its first rollup and its
 * first event: before that the check was not monitored (not created yet), and an uptime
 * there would be made up. Without rollups (history not kept yet, or a gobearmon-era check)
 * nothing says when it began, so its whole past counts.
 */
export function knownSince(firstEvent: number | undefined, firstRollup: number | undefined): number | undefined {
  if (firstRollup === undefined) return undefined;
  return firstEvent === undefined ? firstRollup : Math.min(firstEvent, firstRollup);
}

/**
 * The state at `t`: that of the last event at or before it. Before the first event the
 * check was in the other state (an event is a transition, and a check starts in one
 * state); with no events at all it was online, gobearmon's default.
 */
export function stateAt(events: readonly StateEvent[], t: number): CheckState {
  let state: CheckState | undefined;
  for (const e of events) {
    if (e.at > t) break;
    state = e.type;
  }
  if (state !== undefined) return state;
  const first = events[0];
  return first === undefined ? 'online' : first.type === 'online' ? 'offline' : 'online';
}

/**
 * The fraction of [from, to) the check was online, clipped to its known life and to
 * `now` (the future is not known); null when nothing of the window remains.
 */
export function onlineFraction(timeline: CheckTimeline, from: number, to: number, now: number): number | null {
  const start = Math.max(from, timeline.since ?? -Infinity);
  const end = Math.min(to, now);
  if (!(end > start)) return null;
  let state = stateAt(timeline.events, start);
  let at = start;
  let online = 0;
  for (const e of timeline.events) {
    if (e.at <= start) continue;
    if (e.at >= end) break;
    if (state === 'online') online += e.at - at;
    state = e.type;
    at = e.at;
  }
  if (state === 'online') online += end - at;
  return online / (end - start);
}

/** Whether the check was online (or offline) for the whole of [from, to); 'mixed' when it changed inside. */
export function stateThroughout(events: readonly StateEvent[], from: number, to: number): CheckState | 'mixed' {
  const state = stateAt(events, from);
  for (const e of events) {
    if (e.at <= from) continue;
    if (e.at >= to) break;
    if (e.type !== state) return 'mixed';
  }
  return state;
}

const DAY_MS = 86_400_000;

/** The last `days` UTC days up to and including the one holding `now`, oldest first. */
export function utcDays(days: number, now: number): { day: string; from: number; to: number }[] {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return Array.from({ length: days }, (_, i) => {
    const from = today - (days - 1 - i) * DAY_MS;
    return { day: new Date(from).toISOString().slice(0, 10), from, to: from + DAY_MS };
  });
}
