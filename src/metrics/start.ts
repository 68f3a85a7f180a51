import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { createMetrics, type ProcessMetrics } from './metrics.ts';
import { serveMetrics, type MetricsServer } from './server.ts';

/** The process's metrics and their server when `[default] metricsListen` is set; undefined otherwise. */
export async function startMetrics(config: Config, log: Logger): Promise<(ProcessMetrics & { server: MetricsServer }) | undefined> {
  const listen = config.default.metricsListen;
  if (!listen) return undefined;
  const metrics = createMetrics();
  const server = await serveMetrics(metrics.registry, listen, log);
  return Object.assign(metrics, { server });
}
