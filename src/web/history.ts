/**
 * Uptime and latency history, as the dashboard and the status page read it. The queries
 * themselves live in src/history/query.ts (rollups in MySQL); this file repeats their
 * interface so the web role compiles and is tested on its own, and loads the real
 * implementation when the process starts.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../db/cluster.ts';

export interface LatencyPoint {
  worker: string;
  bucketStart: Date;
  runs: number;
  failures: number;
  minMs: number | null;
  avgMs: number | null;
  maxMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface HistoryQuery {
  uptime(checkId: number, from: Date, to: Date): Promise<number | null>;
  uptimes(checkIds: number[], from: Date, to: Date): Promise<Map<number, number | null>>;
  latency(checkId: number, from: Date, to: Date): Promise<LatencyPoint[]>;
  dailyUptime(checkId: number, days: number, now: Date): Promise<{ day: string; uptime: number | null }[]>;
  workerDisagreements(from: Date, to: Date): Promise<Map<string, number>>;
}

/** Knows nothing: every uptime is null (unknown), every series empty. Used when src/history is absent. */
export const emptyHistory: HistoryQuery = {
  uptime: async () => null,
  uptimes: async (ids) => new Map(ids.map((id) => [id, null])),
  latency: async () => [],
  dailyUptime: async (days, count, now) =>
    Array.from({ length: count }, (_, i) => ({ day: new Date(now.getTime() - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10), uptime: null })),
  workerDisagreements: async () => new Map(),
};

/**
 * src/history/query.ts's createHistoryQuery(cluster). Loaded by path (the same extension as
 * this file: .ts from the sources, .js from dist/) so that this module does not depend on
 * it at compile time.
 */
export async function loadHistoryQuery(cluster: Cluster): Promise<{ history: HistoryQuery; available: boolean }> {
  const here = fileURLToPath(import.meta.url);
  const url = new URL(`../history/query${extname(here)}`, import.meta.url).href;
  try {
    const mod = (await import(url)) as { createHistoryQuery?: (c: Cluster) => HistoryQuery };
    if (typeof mod.createHistoryQuery === 'function') return { history: mod.createHistoryQuery(cluster), available: true };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  return { history: emptyHistory, available: false };
}
