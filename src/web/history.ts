/**
 * Uptime and latency history, as the dashboard and the status page read it: the queries of
 * src/history/query.ts (rollups in MySQL), loaded when the web role starts.
 */
import type { Cluster } from '../db/cluster.ts';
import type { HistoryQuery } from '../history/query.ts';

export type { HistoryQuery, LatencyPoint } from '../history/query.ts';

export async function loadHistoryQuery(cluster: Cluster): Promise<HistoryQuery> {
  const { createHistoryQuery } = await import('../history/query.ts');
  return createHistoryQuery(cluster);
}
