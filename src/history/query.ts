/**
 * Reading the history (for the web dashboard and the status page): uptime from recorded
 * transitions (check_events), latency and run counts from the rollups. The arithmetic is
 * in buckets.ts and uptime.ts; this file only reads rows. docs/HISTORY.md has the rules.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Cluster } from '../db/cluster.ts';
import { showValue } from '../validation.ts';
import { bucketStart, quantileOf, RESOLUTIONS, type Resolution } from './buckets.ts';
import { rollupOfRow, sqlTime } from './store.ts';
import { knownSince, onlineFraction, stateThroughout, utcDays, type CheckTimeline, type StateEvent } from './uptime.ts';

export interface LatencyPoint { worker: string; bucketStart: Date; runs: number; failures: number; minMs: number | null; avgMs: number | null; maxMs: number | null; p50Ms: number | null; p95Ms: number | null }
export interface HistoryQuery {
  /** Fraction online (0..1) over [from, to), from check_events; null when the check did not exist / no data. */
  uptime(checkId: number, from: Date, to: Date): Promise<number | null>;
  /** Uptime of many checks at once (dashboard list: 24h, 7d, 30d, 90d). */
  uptimes(checkIds: number[], from: Date, to: Date): Promise<Map<number, number | null>>;
  /** Per worker latency series over [from, to): fine buckets when the range is within the last two days, hourly otherwise. */
  latency(checkId: number, from: Date, to: Date): Promise<LatencyPoint[]>;
  /** Per-day uptime for the status page's 90-day bars, oldest first. */
  dailyUptime(checkId: number, days: number, now: Date): Promise<{ day: string; uptime: number | null }[]>;
  /** How often each worker's result disagreed with the quorum's state over [from, to) (failures while online + successes while offline as far as rollups can tell is fine; document the approximation). */
  workerDisagreements(from: Date, to: Date): Promise<Map<string, number>>;
}

export interface HistoryQueryOptions {
  /** The clock: the future is not part of an uptime, and "the last two days" are counted from it. */
  now?: () => number;
}

/** `checks.id` is an INT. */
const MAX_CHECK_ID = 2_147_483_647;
/** The status page's bars go back 90 days; ten years is beyond any use, and bounds the work. */
const MAX_DAYS = 3660;
/** Ids per IN (…) list. */
const IDS_PER_QUERY = 1000;

function checkIdArg(value: unknown, field = 'checkId'): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_CHECK_ID) {
    throw new RangeError(`${field}: expected a check id, an integer from 1 to ${MAX_CHECK_ID} (value ${showValue(value)})`);
  }
  return value as number;
}

function range(from: unknown, to: unknown): { from: number; to: number } {
  const ms = (value: unknown, field: string) => {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new RangeError(`${field}: expected a valid Date (value ${showValue(value)})`);
    return value.getTime();
  };
  const start = ms(from, 'from');
  const end = ms(to, 'to');
  if (end <= start) throw new RangeError(`to: expected a time after from (${new Date(start).toISOString()}) (value ${new Date(end).toISOString()})`);
  return { from: start, to: end };
}

const chunks = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

export function createHistoryQuery(cluster: Cluster, options: HistoryQueryOptions = {}): HistoryQuery {
  const clock = options.now ?? Date.now;
  const timeout = cluster.queryTimeoutMs;
  const select = (sql: string, args: unknown[] = []) => cluster.run(async (pool) => (await pool.query<RowDataPacket[]>({ sql, timeout }, args))[0]);

  /** What is known of each check: events (oldest first), whether it exists, its first rollup. */
  async function timelines(checkIds: readonly number[]): Promise<Map<number, CheckTimeline | null>> {
    const events = new Map<number, StateEvent[]>();
    const exists = new Set<number>();
    const firstRollup = new Map<number, number>();
    for (const ids of chunks([...new Set(checkIds)], IDS_PER_QUERY)) {
      const list = ids.join(',');
      // check_events has no index but its key (gobearmon's table, left as it is): one scan
      // per call, whatever the number of checks asked about.
      for (const row of await select(`SELECT check_id, type, time FROM check_events WHERE check_id IN (${list}) AND type IS NOT NULL AND time IS NOT NULL ORDER BY check_id, time, id`)) {
        const id = Number(row.check_id);
        let list = events.get(id);
        if (!list) events.set(id, (list = []));
        list.push({ at: (row.time as Date).getTime(), type: row.type as StateEvent['type'] });
      }
      for (const row of await select(`SELECT id FROM checks WHERE id IN (${list})`)) exists.add(Number(row.id));
      // The first column of the key: a short range per check.
      for (const row of await select(`SELECT check_id, MIN(bucket_start) AS first FROM ${RESOLUTIONS.hourly.table} WHERE check_id IN (${list}) GROUP BY check_id`)) {
        firstRollup.set(Number(row.check_id), (row.first as Date).getTime());
      }
    }
    const out = new Map<number, CheckTimeline | null>();
    for (const id of checkIds) {
      const own = events.get(id) ?? [];
      const first = firstRollup.get(id);
      if (!exists.has(id) && own.length === 0 && first === undefined) out.set(id, null);
      else out.set(id, { events: own, since: knownSince(own[0]?.at, first) });
    }
    return out;
  }

  async function uptimes(checkIds: number[], from: Date, to: Date): Promise<Map<number, number | null>> {
    if (!Array.isArray(checkIds)) throw new RangeError(`checkIds: expected an array of check ids (value ${showValue(checkIds)})`);
    checkIds.forEach((id, i) => checkIdArg(id, `checkIds[${i}]`));
    const window = range(from, to);
    const now = clock();
    const known = await timelines(checkIds);
    return new Map(checkIds.map((id) => {
      const timeline = known.get(id);
      return [id, timeline ? onlineFraction(timeline, window.from, window.to, now) : null];
    }));
  }

  /** Fine buckets while they are all still kept, hourly otherwise. */
  const resolutionFor = (from: number): Resolution => (from >= clock() - RESOLUTIONS.fine.keepMs ? 'fine' : 'hourly');

  return {
    uptimes,

    async uptime(checkId, from, to) {
      checkIdArg(checkId);
      return (await uptimes([checkId], from, to)).get(checkId) ?? null;
    },

    async latency(checkId, from, to) {
      checkIdArg(checkId);
      const window = range(from, to);
      const resolution = resolutionFor(window.from);
      // Buckets that overlap the range: the one holding `from` too.
      const rows = await select(`SELECT * FROM ${RESOLUTIONS[resolution].table} WHERE check_id = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start, worker`, [
        checkId,
        sqlTime(bucketStart(window.from, resolution)),
        sqlTime(window.to),
      ]);
      return rows.map((row) => {
        const r = rollupOfRow(row);
        const measured = r.latencyCount > 0;
        return {
          worker: r.worker,
          bucketStart: new Date(r.bucketStart),
          runs: r.runs,
          failures: r.failures,
          minMs: measured ? r.latencyMinMs : null,
          avgMs: measured ? r.latencySumMs / r.latencyCount : null,
          maxMs: measured ? r.latencyMaxMs : null,
          p50Ms: quantileOf(r.histogram, 0.5, r.latencyMinMs, r.latencyMaxMs),
          p95Ms: quantileOf(r.histogram, 0.95, r.latencyMinMs, r.latencyMaxMs),
        };
      });
    },

    async dailyUptime(checkId, days, now) {
      checkIdArg(checkId);
      if (!Number.isSafeInteger(days) || days < 1 || days > MAX_DAYS) throw new RangeError(`days: expected an integer from 1 to ${MAX_DAYS} (value ${showValue(days)})`);
      if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new RangeError(`now: expected a valid Date (value ${showValue(now)})`);
      const timeline = (await timelines([checkId])).get(checkId);
      return utcDays(days, now.getTime()).map(({ day, from, to }) => ({ day, uptime: timeline ? onlineFraction(timeline, from, to, now.getTime()) : null }));
    },

    /**
     * Per worker: failures in buckets the check was online throughout, plus online results
     * in buckets it was offline throughout. Buckets in which the check changed state are left
     * out (a rollup cannot tell which results came before the change), so the first
     * failures of a real outage, which every worker saw, are not held against anyone. A
     * worker with no disagreement may be absent from the map.
     */
    async workerDisagreements(from, to) {
      const window = range(from, to);
      const resolution = resolutionFor(window.from);
      const { table, sizeMs } = RESOLUTIONS[resolution];
      const ids = (await select(`SELECT DISTINCT check_id FROM ${table}`)).map((r) => Number(r.check_id));
      const events = new Map<number, StateEvent[]>();
      for (const row of await select('SELECT check_id, type, time FROM check_events WHERE type IS NOT NULL AND time IS NOT NULL ORDER BY check_id, time, id')) {
        const id = Number(row.check_id);
        let list = events.get(id);
        if (!list) events.set(id, (list = []));
        list.push({ at: (row.time as Date).getTime(), type: row.type as StateEvent['type'] });
      }
      const start = bucketStart(window.from, resolution);
      const counts = new Map<string, number>();
      for (const chunk of chunks(ids, IDS_PER_QUERY)) {
        // Most rows are of checks online throughout with no failure: they cannot disagree and are not read.
        const notAlwaysOnline = chunk.filter((id) => stateThroughout(events.get(id) ?? [], start, window.to) !== 'online');
        const rows = await select(
          `SELECT check_id, worker, bucket_start, runs, failures, errors FROM ${table}
            WHERE check_id IN (${chunk.join(',')}) AND bucket_start >= ? AND bucket_start < ?
              AND (failures > 0${notAlwaysOnline.length > 0 ? ` OR check_id IN (${notAlwaysOnline.join(',')})` : ''})`,
          [sqlTime(start), sqlTime(window.to)],
        );
        for (const row of rows) {
          const at = (row.bucket_start as Date).getTime();
          const state = stateThroughout(events.get(Number(row.check_id)) ?? [], at, at + sizeMs);
          if (state === 'mixed') continue;
          const failures = Number(row.failures);
          const disagreed = state === 'online' ? failures : Number(row.runs) - failures - Number(row.errors);
          const worker = String(row.worker);
          counts.set(worker, (counts.get(worker) ?? 0) + disagreed);
        }
      }
      return counts;
    },
  };
}
