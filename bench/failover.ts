/**
 * Controller fail-over time (issue 5): a viewserver and three worker processes with the
 * default heartbeat (1 s period, 500 ms timeout, 1 miss); the controller process is killed
 * with SIGKILL 20 times (and started again as a plain worker each time). Measured: from
 * the kill to the first assignment logged by the new controller (an `assign` event on
 * bearmon.assign.> whose view is newer than the killed controller's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { setupBus } from '../src/bus/setup.ts';
import { createBenchDatabase } from './database.ts';
import { startBenchNats } from './nats.ts';
import type { BenchReport } from './report.ts';
import { percentile, round1, within } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const KILLS = 20;
const WORKERS = ['w1', 'w2', 'w3'];

export async function benchFailover(): Promise<BenchReport> {
  const nats = await startBenchNats();
  const db = await createBenchDatabase();
  const children = new Map<string, ChildProcess>();
  const admin = nats.login();
  const nc = await connect({ servers: admin.servers, user: admin.user, pass: admin.pass });
  try {
    // What only admin may make (every process below runs under its own role).
    await setupBus(nc, { stream: 'BEARMON', retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 });
    // Checks every second so a new controller assigns something within its first tick.
    await db.replaceChecks(
      Array.from({ length: 20 }, (_, i) => ({ name: `c${i}`, type: 'tcp', data: JSON.stringify({ address: '127.0.0.1:9' }), interval: 1, delay: 1 })),
    );
    const env = (user: string) => {
      const login = nats.login(user);
      return { PATH: process.env.PATH!, BEARMON_NATS_URL: `nats://${login.servers}`, BEARMON_NATS_USER: login.user, BEARMON_NATS_PASSWORD: login.pass, BEARMON_CONTROLLER_DATABASE: db.dsn, BEARMON_NATS_STREAM: 'BEARMON' };
    };
    const startWorker = (id: string) =>
      children.set(id, spawn(BIN, ['worker'], { env: { ...env(id), BEARMON_WORKER_ID: id }, stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'] }));
    children.set('viewserver', spawn(BIN, ['viewserver'], { env: env('viewserver'), stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'] }));
    for (const id of WORKERS) startWorker(id);

    let view = { view: 0, controller: null as string | null };
    const assigns: { view: number; at: number }[] = [];
    let onView: (() => void) | undefined;
    nc.subscribe('bearmon.view.current', { callback: (_e, m) => ((view = m.json()), onView?.()) });
    nc.subscribe('bearmon.assign.>', {
      callback: (_e, m) => {
        const event = m.json<{ type: string; view?: number }>();
        if (event.type === 'assign') assigns.push({ view: event.view ?? 0, at: performance.now() });
      },
    });
    const waitFor = (predicate: () => boolean, ms: number, what: string) =>
      within(
        new Promise<void>((resolve) => {
          const poll = setInterval(() => predicate() && (clearInterval(poll), resolve()), 5);
        }),
        ms,
        what,
      );
    await waitFor(() => view.controller !== null && assigns.some((a) => a.view === view.view), 30_000, 'a first controller');

    const failovers: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const victim = view.controller!;
      const oldView = view.view;
      // Every worker up and known to the viewserver before the next kill.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const killedAt = performance.now();
      children.get(victim)!.kill('SIGKILL');
      await waitFor(() => assigns.some((a) => a.view > oldView && a.at > killedAt), 15_000, `fail-over #${kill + 1}`);
      failovers.push(assigns.find((a) => a.view > oldView && a.at > killedAt)!.at - killedAt);
      startWorker(victim);
    }
    const median = round1(percentile(failovers, 50));
    const max = round1(Math.max(...failovers));
    return {
      name: `fail-over: ${KILLS} × kill -9 of the controller process (3 workers, default heartbeat 1 s / 500 ms, 1 miss)`,
      figures: [
        { label: 'kill -9 → first assignment by the new controller, median', value: median, unit: 'ms' },
        { label: 'kill -9 → first assignment by the new controller, max', value: max, unit: 'ms', target: '≤ 3000', pass: max <= 3000 },
        { label: "gobearmon's design figure (5 s ping period + 10 s worker view poll)", value: 15000, unit: 'ms (worst case)' },
      ],
    };
  } finally {
    await nc.close();
    await Promise.all(
      [...children.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
    await db.drop();
    await nats.stop();
  }
}
