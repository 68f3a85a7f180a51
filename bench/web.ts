/**
 * The web role at size (issue 14): 10,000 checks loaded by a real controller process (no workers:
 * the checks keep their state, the status answer is as large as it gets), 30 days of hourly
 * rollups for every check in MySQL (src/history's tables, one worker), a real nats-server,
 * and `bearmon web` in process, logged in as the `operator` NATS user.
 *
 * - `/api/checks`: wall time of GET with a session, sequential, the serialized list
 *   invalidated before every request (as when a check changed since the last one), after
 *   the first request has loaded the uptimes.
 * - first render in headless Chromium (Debian's, through playwright-core): navigation
 *   start → the dashboard's table filled (`body[data-ready]`), and → the status page's
 *   `load` event (20 public checks with 90-day bars).
 */
import { connect } from '@nats-io/transport-node';
import bcrypt from 'bcryptjs';
import mysql from 'mysql2/promise';
import { chromium } from 'playwright-core';
import { createLogger } from '../src/log.ts';
import { startWeb } from '../src/web/start.ts';
import { forkController } from './controller-child.ts';
import { createBenchDatabase } from './database.ts';
import { deleteStream, startBenchNats } from './nats.ts';
import type { BenchFigure, BenchReport } from './report.ts';
import { distributionFigures, within } from './stats.ts';

export const WEB_DEFAULTS = { checks: 10_000, days: 30, requests: 300, renders: 7 };
export const WEB_QUICK = { checks: 500, days: 2, requests: 30, renders: 2 };
const STREAM = 'BEARMON_BENCH_WEB';
const TARGETS = { apiP99Ms: 100, dashboardMs: 1500, statusMs: 1000 };
const CHROMIUM = process.env.BEARMON_CHROMIUM ?? '/usr/bin/chromium';

export async function benchWeb(sizes = WEB_DEFAULTS): Promise<BenchReport> {
  const log = createLogger({ level: 'warn' });
  const nats = await startBenchNats();
  const db = await createBenchDatabase();
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await db.replaceChecks(Array.from({ length: sizes.checks }, (_, i) => ({ name: `site-${String(i + 1).padStart(5, '0')}`, type: 'tcp', data: JSON.stringify({ address: '127.0.0.1:9' }), interval: 60, delay: 1 })));
    const seeded = performance.now();
    await seedRollups(db.options, sizes.days);
    const seedMs = Math.round(performance.now() - seeded);
    await deleteStream(nats.login(), STREAM);

    // The controller in a process of its own, as in production: building its status answer
    // is its work, not the web role's.
    const controller = await forkController({ nats: nats.login(), dsn: db.dsn, id: 'web-ctl', confirmations: 2, reloadIntervalMs: 600_000, stream: STREAM, retentionMs: 3_600_000, countResults: false, snapshotMs: 0 });
    stops.push(() => controller.stop());

    const webConn = await connect({ ...nats.login('operator'), name: 'bench-web' });
    const password = 'bench password';
    const web = await startWeb({
      nc: webConn,
      stream: STREAM,
      databases: [db.dsn],
      web: { listen: { host: '127.0.0.1', port: 0 }, user: 'admin', passwordHash: bcrypt.hashSync(password, 4), public: Array.from({ length: 20 }, (_, i) => String(i + 1)), sessionTtl: 3_600_000 },
      log,
    });
    stops.push(async () => {
      await web.stop();
      await webConn.close();
    });
    await within(
      (async () => {
        while (web.live.checks().length < sizes.checks) await web.live.refresh();
      })(),
      60_000,
      'the controller answering with every check',
    );

    const login = await fetch(`${web.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: web.url }, body: JSON.stringify({ user: 'admin', password }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const get = async () => {
      const began = performance.now();
      const res = await fetch(`${web.url}/api/checks`, { headers: { Cookie: cookie } });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`/api/checks: HTTP ${res.status} ${body.slice(0, 200)}`);
      return { ms: performance.now() - began, bytes: body.length };
    };
    const firstLoad = await get();
    // Steady state: every uptime loaded (the first load of 10,000 checks × 4 windows takes seconds).
    const uptimesBegan = performance.now();
    await within(
      (async () => {
        for (;;) {
          const list = (await (await fetch(`${web.url}/api/checks`, { headers: { Cookie: cookie } })).json()) as { checks: { uptime: Record<string, number | null> }[] };
          if (list.checks.every((c) => c.uptime['24h'] !== null)) return;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })(),
      120_000,
      'every uptime loaded',
    );
    const uptimesMs = Math.round(performance.now() - uptimesBegan + firstLoad.ms);
    const samples: number[] = [];
    let bytes = 0;
    for (let i = 0; i < sizes.requests; i++) {
      web.live.version += 1; // as if a check changed: the list is serialized again
      const r = await get();
      samples.push(r.ms);
      bytes = r.bytes;
    }

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    stops.unshift(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const [name, value] = cookie.split('=') as [string, string];
    await context.addCookies([{ name, value, url: web.url }]);
    const dashboard: number[] = [];
    const status: number[] = [];
    for (let i = -1; i < sizes.renders; i++) {
      const page = await context.newPage();
      let began = performance.now();
      await page.goto(`${web.url}/`, { waitUntil: 'commit' });
      await page.waitForSelector('body[data-ready=true]', { timeout: 30_000 });
      const d = performance.now() - began;
      began = performance.now();
      await page.goto(`${web.url}/status`, { waitUntil: 'load' });
      const s = performance.now() - began;
      await page.close();
      if (i < 0) continue; // warm-up: the browser's own start-up and first compile
      dashboard.push(d);
      status.push(s);
    }
    return {
      name: `web: ${sizes.checks.toLocaleString('en')} checks, ${sizes.days} days of hourly rollups`,
      method: `a real controller in its own process (no workers) answers the status; ${sizes.checks.toLocaleString('en')} × ${sizes.days * 24} hourly rollup rows seeded in ${seedMs} ms; /api/checks sequential, the list rebuilt for every request as after a change (${Math.round(bytes / 1024)} KiB); Chromium: navigation → table filled / status page load, after one warm-up`,
      figures: [
        { label: 'one status read of the controller (every page), as the web role makes it', value: Math.round(web.live.lastDurationMs), unit: 'ms' },
        { label: '/api/checks, first request (waits ≤ 2 s for the uptimes)', value: Math.round(firstLoad.ms), unit: 'ms' },
        { label: 'every uptime (4 windows) loaded from src/history, after start', value: uptimesMs, unit: 'ms' },
        ...distributionFigures('/api/checks', samples, 'ms', { percentiles: [50, 99], target: { percentile: 99, atMost: TARGETS.apiP99Ms } }),
        ...renderFigures('dashboard first render (Chromium)', dashboard, TARGETS.dashboardMs),
        ...renderFigures('status page first render (Chromium)', status, TARGETS.statusMs),
      ],
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await db.drop().catch(() => {});
    await nats.stop();
  }
}

/** Median and max of a few renders; the target is held against the max. */
function renderFigures(label: string, values: number[], atMost: number): BenchFigure[] {
  const sorted = [...values].sort((a, b) => a - b);
  const median = Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN);
  const max = Math.round(sorted.at(-1) ?? NaN);
  return [
    { label: `${label}, median`, value: median, unit: 'ms', n: values.length },
    { label: `${label}, max`, value: max, unit: 'ms', n: values.length, target: `≤ ${atMost}`, pass: max <= atMost },
  ];
}

/** `days` of hourly rollups for every check (one worker, 60 runs an hour, a few slow), generated inside MariaDB (the seq_ engine). */
async function seedRollups(options: mysql.ConnectionOptions, days: number): Promise<void> {
  const c = await mysql.createConnection(options);
  try {
    await c.query(
      `INSERT INTO bearmon_history_hourly (check_id, bucket_start, worker, runs, failures, errors, latency_count, latency_sum_ms, latency_min_ms, latency_max_ms, h_10, h_25, h_50)
       SELECT c.id, DATE_FORMAT(UTC_TIMESTAMP() - INTERVAL s.seq HOUR, '%Y-%m-%d %H:00:00'), 'w1', 60, IF((c.id + s.seq) % 97 = 0, 3, 0), 0, 60, 60 * (5 + (c.id + s.seq) % 20), 2, 40, 40, 15, 5
       FROM checks c JOIN seq_1_to_${days * 24} s`,
    );
  } finally {
    await c.end();
  }
}
