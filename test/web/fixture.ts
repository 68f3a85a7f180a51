import { connect } from '@nats-io/transport-node';
import bcrypt from 'bcryptjs';
import { onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { inboxPrefix } from '../../src/bus/permissions.ts';
import type { HistoryQuery, LatencyPoint } from '../../src/web/history.ts';
import { startWeb, type WebHandle } from '../../src/web/start.ts';
import { startCluster, STREAM, switchableTarget, type Cluster } from '../controller/harness.ts';
import type { NatsServerHandle } from '../helpers/nats-server.ts';

export const USER = 'admin';
export const PASSWORD = 'correct horse battery';

/**
 * Stands in for src/history/query.ts (another change builds it): fixed, known figures, so
 * the tests can assert what the pages show. Every check: 99.5 % over 24 h, 98 % over 7 d,
 * 97 % over 30 d, unknown over 90 d; days alternate full, 50 % and unknown.
 */
export function stubHistory(now: () => Date = () => new Date()): HistoryQuery {
  const byWindow = (from: Date, to: Date) => {
    const days = Math.round((to.getTime() - from.getTime()) / 86_400_000);
    return days <= 1 ? 0.995 : days <= 7 ? 0.98 : days <= 30 ? 0.97 : null;
  };
  return {
    uptime: async (_id, from, to) => byWindow(from, to),
    uptimes: async (ids, from, to) => new Map(ids.map((id) => [id, byWindow(from, to)])),
    latency: async (_id, from, to) => {
      const points: LatencyPoint[] = [];
      const step = (to.getTime() - from.getTime()) / 24;
      for (let i = 0; i < 24; i++)
        for (const [n, worker] of ['w1', 'w2'].entries())
          points.push({ worker, bucketStart: new Date(from.getTime() + i * step), runs: 60, failures: 0, minMs: 1, avgMs: 10 + n * 5 + (i % 4), maxMs: 40, p50Ms: 9, p95Ms: 30 });
      return points;
    },
    dailyUptime: async (_id, days, at) =>
      Array.from({ length: days }, (_, i) => ({ day: new Date(at.getTime() - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10), uptime: i % 3 === 0 ? 1 : i % 3 === 1 ? 0.5 : null })),
    workerDisagreements: async () => new Map([['w1', 2], ['w2', 0]]),
  };
}

export interface WebFixture {
  cluster: Cluster;
  target: Awaited<ReturnType<typeof switchableTarget>>;
  web: WebHandle;
  url: string;
}

/** The fixture's workers: id, source address (what the target's `refuse` set names), region. */
export const EU = { worker: 'w1', address: '127.0.0.2', region: 'eu' } as const;
export const US = { worker: 'w2', address: '127.0.0.3', region: 'us' } as const;

/**
 * A real cluster (controller + workers w1 in region eu and w2 in region us, each binding its
 * checks to its own source address, on a real nats-server and a fresh MariaDB database), two
 * checks — `shop` (public, an HTTP target the test switches off, or refuses to one region:
 * min_regions 2) and `secret-admin` (not public, its URL carries a token) — a webhook contact
 * for shop, and the web role connected as the `operator` NATS user.
 */
export async function startWebFixture(nats: NatsServerHandle, options: { loginLimit?: { max: number; windowMs: number } } = {}): Promise<WebFixture> {
  const target = await switchableTarget();
  const cluster = await startCluster({
    natsUrl: nats.url,
    confirmations: 2,
    checks: [
      // delay 2: rounds 2 and 3 each wait an interval, so a page sees the change pending for ~2 s.
      { name: 'shop', type: 'http', data: { url: target.url, expect_status: 200 }, interval: 1, delay: 2, minRegions: 2 },
      { name: 'secret-admin', type: 'http', data: { url: `${target.url}admin?token=hunter2` }, interval: 1, delay: 1 },
    ],
    workers: [
      [EU.worker, EU.address, EU.region],
      [US.worker, US.address, US.region],
    ],
    rows: ["INSERT INTO contacts (id, type, data) VALUES (1, 'webhook', 'http://127.0.0.1:9/hook/s3cr3t')", "INSERT INTO alerts (check_id, contact_id, type) VALUES (1, 1, 'both')"],
  });
  const nc = await connect({ ...natsOptions([nats.urlFor('operator')]), inboxPrefix: inboxPrefix('operator') });
  const db = cluster.db;
  const web = await startWeb({
    nc,
    stream: STREAM,
    databases: [`${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`],
    web: { listen: { host: '127.0.0.1', port: 0 }, user: USER, passwordHash: bcrypt.hashSync(PASSWORD, 4), public: ['shop'], sessionTtl: 3_600_000 },
    log: cluster.logs.log,
    history: stubHistory(),
    loginLimit: options.loginLimit,
    pollMs: 1000,
  });
  onTestFinished(async () => {
    await web.stop();
    await nc.close();
  });
  return { cluster, target, web, url: web.url };
}

/** Logs in through the API; the session cookie to send along. */
export async function login(url: string, user = USER, password = PASSWORD): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: url }, body: JSON.stringify({ user, password }) });
  if (res.status !== 200) throw new Error(`login: HTTP ${res.status} ${await res.text()}`);
  const cookie = res.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0]!;
}
