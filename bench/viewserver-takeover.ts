/**
 * Viewserver take-over (issue 16, item 2): three `bearmon viewserver` processes, one active
 * (the holder of the lease in KV bearmon_view, key `lease`: renewed every 500 ms, taken by a
 * standby after 2 s unrenewed, standbys poll every 250 ms). The active one is killed with
 * SIGKILL `kills` times (and started again each time, as a new standby). Measured from the
 * kill: the lease written by another viewserver (a KV watch on the key), and the first
 * view said on bearmon.view.current by the new active one (it says the stored view on
 * taking the lease). No workers: the view names no controller; only the viewservers count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { LEASE_KEY, VIEW_BUCKET, VIEW_KEY } from '../src/actors/viewserver.ts';
import { setupBus } from '../src/bus/setup.ts';
import { startBenchNats } from './nats.ts';
import type { BenchReport } from './report.ts';
import { distributionFigures, within } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const KILLS = 10;
const MAX_TARGET_MS = 3_000;

export async function benchViewserverTakeover(kills = KILLS): Promise<BenchReport> {
  const nats = await startBenchNats();
  const children = new Set<ChildProcess>();
  const admin = nats.login();
  const nc = await connect({ servers: admin.servers, user: admin.user, pass: admin.pass });
  try {
    await setupBus(nc, { stream: 'BEARMON', retentionMs: 86_400_000, maxBytes: 1024 ** 3 });
    const login = nats.login('viewserver');
    const env = {
      PATH: process.env.PATH!,
      BEARMON_NATS_URL: `nats://${login.servers}`,
      BEARMON_NATS_USER: login.user,
      BEARMON_NATS_PASSWORD: login.pass,
      BEARMON_NATS_STREAM: 'BEARMON',
      // Logs go to stderr, which the bench shares: only with BENCH_DEBUG beyond fatal ones.
      BEARMON_DEFAULT_LOGLEVEL: process.env.BENCH_DEBUG ? 'info' : 'fatal',
    };
    const byPid = new Map<string, ChildProcess>();
    const start = () => {
      const child = spawn(BIN, ['viewserver'], { env, stdio: ['ignore', process.env.BENCH_DEBUG ? 2 : 'ignore', 'inherit'] });
      children.add(child);
      byPid.set(String(child.pid), child);
    };

    // The lease's holder as written ("<hostname>-<pid>"), and when each write was seen.
    let holder: string | undefined;
    let holderSeenAt = 0;
    const kv = await new Kvm(nc).open(VIEW_BUCKET);
    // A stored view (no controller: there are no workers), which each new active viewserver says on taking the lease.
    await kv.put(VIEW_KEY, JSON.stringify({ type: 'view', view: 1, controller: null, at: new Date().toISOString() }));
    const watch = await kv.watch({ key: LEASE_KEY });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        const next = (entry.json() as { holder: string }).holder;
        if (next !== holder) holderSeenAt = performance.now();
        holder = next;
      }
    })();
    let viewSaidAt = 0;
    nc.subscribe('bearmon.view.current', { callback: () => void (viewSaidAt = performance.now()) });

    const waitFor = (predicate: () => boolean, ms: number, what: string) => {
      let poll: NodeJS.Timeout | undefined;
      return within(new Promise<void>((resolve) => (poll = setInterval(() => predicate() && resolve(), 5))), ms, what).finally(() => clearInterval(poll));
    };
    const holderProcess = () => byPid.get(holder?.split('-').at(-1) ?? '');
    for (let i = 0; i < 3; i++) start();
    await waitFor(() => holderProcess() !== undefined && viewSaidAt > 0, 60_000, 'a first active viewserver');

    const leases: number[] = [];
    const views: number[] = [];
    for (let kill = 0; kill < kills; kill++) {
      // The restarted one up (started, standing by) before the next kill: its start-up is not measured.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      const victim = holderProcess()!;
      const killedAt = performance.now();
      victim.kill('SIGKILL');
      await waitFor(() => holderSeenAt > killedAt && viewSaidAt > killedAt, 15_000, `take-over #${kill + 1}`);
      leases.push(holderSeenAt - killedAt);
      views.push(viewSaidAt - killedAt);
      start();
    }
    await watch.stop();
    const withTarget = (figures: ReturnType<typeof distributionFigures>) => {
      const max = figures[figures.length - 1]!;
      Object.assign(max, { target: `≤ ${MAX_TARGET_MS}`, pass: max.value <= MAX_TARGET_MS });
      return figures;
    };
    return {
      name: `viewserver take-over: ${kills} × kill -9 of the active one of 3 viewserver processes (lease 2 s, renewal 500 ms, standby poll 250 ms)`,
      method: 'bin/bearmon viewserver processes under the viewserver user of nats.conf; the lease holder is killed with SIGKILL and started again; timed from the kill to the lease written by another holder (KV watch) and to the first view said on bearmon.view.current.',
      figures: [
        ...withTarget(distributionFigures('kill -9 → lease taken by another viewserver', leases, 'ms', { percentiles: [50] })),
        ...withTarget(distributionFigures('kill -9 → first view said by the new active one', views, 'ms', { percentiles: [50] })),
      ],
    };
  } finally {
    await nc.close();
    await Promise.all(
      [...children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
    await nats.stop();
  }
}
