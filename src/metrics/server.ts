import http from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

export interface MetricsServer {
  address: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics in Prometheus' text format on `[default] metricsListen`. Fails to
 * start (rejects) when the address cannot be bound: a process asked to expose metrics that
 * silently doesn't would hide itself from its own monitoring.
 */
export async function serveMetrics(registry: Registry, listen: { host: string; port: number }, log: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => {
        log.error({ err: err.message }, 'could not collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot serve metrics on ${listen.host}:${listen.port}: ${err.message}`)));
    server.listen(listen.port, listen.host, resolve);
  });
  const address = server.address() as { address: string; port: number };
  const shown = `${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  log.info({ metrics: `http://${shown}/metrics` }, 'serving metrics');
  return {
    address: shown,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
