import { createCheckRegistry } from '../checks/registry.ts';
import { runCheck } from '../checks/run.ts';
import type { CheckResult } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { startDnsServer } from './dns-server.ts';
import { DEMO_NAME, startHttpTarget, startTcpTarget, startTlsTarget, type DemoTarget } from './targets.ts';

export interface DemoCheck {
  name: string;
  type: string;
  data: Record<string, unknown>;
}

/** The demo check set: one check of each type against the demo targets. */
export function demoChecks(targets: { http: DemoTarget; tcp: DemoTarget; tls: DemoTarget; dns: { address: string } }): DemoCheck[] {
  return [
    { name: 'demo web', type: 'http', data: { url: `http://${targets.http.address}/`, expect_status: 200, expect_substring: 'ok' } },
    { name: 'demo flapping web', type: 'http', data: { url: `http://${targets.http.address}/flapping`, expect_status: 200, timeout: 3 } },
    { name: 'demo line service', type: 'tcp', data: { address: targets.tcp.address, payload: 'PING', expect: 'PONG' } },
    { name: 'demo ping', type: 'icmp', data: { target: '127.0.0.1' } },
    { name: 'demo certificate', type: 'ssl_expire', data: { address: targets.tls.address, days: 30 } },
    { name: 'demo name', type: 'dns', data: { server: targets.dns.address, name: DEMO_NAME, type: 'a', expect: '127.0.0.1' } },
  ];
}

export function formatResult(at: Date, check: DemoCheck, result: CheckResult): string {
  const time = at.toISOString().slice(11, 19);
  return `${time}  ${check.name.padEnd(20)} ${check.type.padEnd(10)} ${result.status.padEnd(13)} ${result.message} (${result.durationMs} ms)`;
}

/**
 * `npm start` for now: starts loopback demo targets and runs the demo checks every
 * interval, printing each result as it arrives. Ctrl-C stops everything.
 */
export async function runDemo(config: Config, log: Logger, options: { intervalMs: number }): Promise<void> {
  const now = Date.now;
  const targets = {
    http: await startHttpTarget({ upMs: 40_000, downMs: 20_000 }, now),
    tcp: await startTcpTarget(),
    tls: await startTlsTarget(90, now),
    dns: await startDnsServer({ [DEMO_NAME]: [{ type: 'A', ttl: 60, data: '127.0.0.1' }] }),
  };
  const checks = demoChecks(targets);
  const registry = createCheckRegistry();
  log.info({ targets: Object.fromEntries(Object.entries(targets).map(([k, t]) => [k, t.address])) }, 'demo targets started');
  process.stdout.write(`bearmon demo: ${checks.length} checks every ${options.intervalMs / 1000}s (Ctrl-C to stop)\n`);

  // Aborted on Ctrl-C: runs in flight stop, and their results are not printed.
  const stopping = new AbortController();
  const runAll = () =>
    Promise.all(
      checks.map(async (check) => {
        const result = await runCheck(registry, check.type, JSON.stringify(check.data), {
          now,
          signal: stopping.signal,
          dnsServer: config.dns.server,
          sourceAddress: config.worker.sourceAddress,
        });
        if (!stopping.signal.aborted) process.stdout.write(`${formatResult(new Date(now()), check, result)}\n`);
      }),
    );
  const timer = setInterval(() => void runAll(), options.intervalMs);
  void runAll();
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(timer);
  stopping.abort();
  await Promise.all(Object.values(targets).map((t) => t.close()));
  process.stdout.write('bearmon demo stopped\n');
}
