/**
 * The cluster under load (issue 12, "Benchmark"): a viewserver and three real worker
 * processes (`bin/bearmon`, each under its own nats.conf user, checks bound to 127.0.0.2..4,
 * 64 checks at a time) run N http checks every 5 s (delay 1, confirmations 2) against one
 * loopback target in a child process. Each scenario gets a fresh nats-server, result log
 * and database; it is measured once on an otherwise idle machine and once with both cores
 * kept busy by two `node -e "for(;;){}"` processes (started when the first controller has
 * assigned, so the warm-up spans the change).
 *
 * Measured over a window after a warm-up (timed from the first assign line), from an admin
 * connection: results on bearmon.result.*.* (runs/s, the gap between consecutive results of
 * one check, checks without a result), assign lines on bearmon.assign.>, and view changes on
 * bearmon.view.current; CPU time of the four bearmon processes from /proc/<pid>/stat over
 * the window, and the peak RSS (VmHWM) of each process at the end of the window.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { setupBus } from '../src/bus/setup.ts';
import { createBenchDatabase, type BenchDatabase } from './database.ts';
import { startBenchNats, type BenchNatsServer } from './nats.ts';
import { machineCpuMs, processCpuMs } from './proc-cpu.ts';
import type { BenchFigure, BenchReport } from './report.ts';
import { distributionFigures, round1, sleep, within } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const WORKERS = ['w1', 'w2', 'w3'];
const INTERVAL_S = 5;
const NUM_THREADS = 64;
const HOGS = 2;
const VIEW = 'bearmon.view.current';

/** Targets of issue 12. */
const RUNS_TARGET_AT_10K = 1_300;
const CPU_PER_RUN_TARGET_MS = 0.6;
const RSS_TARGET_MB = 350;
const RSS_TARGET_AT = 2_000;

export interface LoadOptions {
  sizes: number[];
  warmupMs: number;
  windowMs: number;
}
export const LOAD_DEFAULTS: LoadOptions = { sizes: [2_000, 10_000], warmupMs: 20_000, windowMs: 60_000 };
export const LOAD_QUICK: LoadOptions = { sizes: [200], warmupMs: 5_000, windowMs: 10_000 };

/** Peak resident set (VmHWM) of a process in bytes; undefined once it is gone. */
async function peakRssBytes(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function startTarget(): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./target-server.ts', import.meta.url));
  const child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 'inherit', 'ipc'] });
  const [message] = (await within(once(child, 'message'), 30_000, 'the load target')) as [{ ready: { http: number } }];
  return { child, port: message.ready.http };
}

const mb = (bytes: number) => Math.round(bytes / 1024 ** 2);
const sum = (values: (number | undefined)[]) => values.reduce<number>((a, b) => a + (b ?? 0), 0);

async function scenario(checks: number, busy: boolean, options: LoadOptions, targetPort: number): Promise<BenchReport> {
  const label = `${checks.toLocaleString('en')} checks every ${INTERVAL_S} s, ${busy ? `both cores kept busy by ${HOGS} other processes` : 'idle machine'}`;
  const name = `load: ${label}`;
  const loadAtStart = round1(loadavg()[0]!);
  let nats: BenchNatsServer | undefined;
  let db: BenchDatabase | undefined;
  let nc: NatsConnection | undefined;
  const bearmon = new Map<string, ChildProcess>();
  const hogs: ChildProcess[] = [];
  const exits: string[] = [];
  try {
    nats = await startBenchNats();
    db = await createBenchDatabase();
    const admin = nats.login();
    nc = await connect({ servers: admin.servers, user: admin.user, pass: admin.pass, name: 'bearmon-bench-load' });
    await setupBus(nc, { stream: 'BEARMON', retentionMs: 7 * 86_400_000, maxBytes: 1024 ** 3 });
    const data = JSON.stringify({ url: `http://127.0.0.1:${targetPort}/`, expect_status: 200 });
    await db.replaceChecks(Array.from({ length: checks }, (_, i) => ({ name: `load${i + 1}`, type: 'http', data, interval: INTERVAL_S, delay: 1 })));

    // What the admin connection sees; only the window is kept (timestamps: performance.now()).
    let windowStart = Infinity;
    let windowEnd = Infinity;
    const inWindow = (t: number) => t >= windowStart && t < windowEnd;
    let firstAssignAt: number | undefined;
    let assigns = 0;
    let results = 0;
    let notOnline = 0;
    const lastRun = new Float64Array(checks + 1).fill(NaN);
    const runsOf = new Uint32Array(checks + 1);
    const gapsS: number[] = [];
    let view = { view: 0, controller: null as string | null };
    const viewChanges: { at: number; view: number; controller: string | null }[] = [];
    const controllers = new Set<string>();

    nc.subscribe(VIEW, {
      callback: (_e, m) => {
        if (m.subject !== VIEW) return;
        const said = m.json<{ view: number; controller: string | null }>();
        if (said.view > view.view && view.controller !== null) viewChanges.push({ at: performance.now(), view: said.view, controller: said.controller });
        if (said.view >= view.view) view = { view: said.view, controller: said.controller };
        if (said.controller) controllers.add(said.controller);
      },
    });
    nc.subscribe('bearmon.assign.>', {
      callback: (_e, m) => {
        // No JSON.parse: the bench shares the machine's two cores with what it measures.
        if (!m.string().includes('"type":"assign"')) return;
        const now = performance.now();
        firstAssignAt ??= now;
        if (inWindow(now)) assigns++;
      },
    });
    nc.subscribe('bearmon.result.*.*', {
      callback: (_e, m) => {
        const now = performance.now();
        if (!inWindow(now)) return;
        const id = Number(m.subject.slice(m.subject.lastIndexOf('.') + 1));
        if (!(id >= 1 && id <= checks)) return;
        results++;
        if (!m.string().includes('"status":"online"')) notOnline++;
        runsOf[id]!++;
        const last = lastRun[id]!;
        if (!Number.isNaN(last)) gapsS.push((now - last) / 1000);
        lastRun[id] = now;
      },
    });
    await nc.flush();

    const env = (user: string) => {
      const login = nats!.login(user);
      return {
        PATH: process.env.PATH!,
        BEARMON_NATS_URL: `nats://${login.servers}`,
        BEARMON_NATS_USER: login.user,
        BEARMON_NATS_PASSWORD: login.pass,
        BEARMON_NATS_STREAM: 'BEARMON',
        BEARMON_CONTROLLER_DATABASE: db!.dsn,
        BEARMON_CONTROLLER_CONFIRMATIONS: '2',
        // Logs go to stderr, which the bench shares: only with BENCH_DEBUG beyond fatal ones.
        BEARMON_DEFAULT_LOGLEVEL: process.env.BENCH_DEBUG ? 'info' : 'fatal',
      };
    };
    const stdio = ['ignore', process.env.BENCH_DEBUG ? 2 : 'ignore', 'inherit'] as const;
    const started = (id: string, child: ChildProcess) => {
      bearmon.set(id, child);
      child.once('exit', (code, signal) => exits.push(`${id} (${signal ?? code})`));
    };
    started('viewserver', spawn(BIN, ['viewserver'], { env: env('viewserver'), stdio: [...stdio] }));
    WORKERS.forEach((id, i) =>
      started(
        id,
        spawn(BIN, ['worker'], {
          env: { ...env(id), BEARMON_WORKER_ID: id, BEARMON_WORKER_NUMTHREADS: String(NUM_THREADS), BEARMON_WORKER_SOURCEADDRESS: `127.0.0.${i + 2}` },
          stdio: [...stdio],
        }),
      ),
    );
    const spawnedAt = performance.now();
    let poll: NodeJS.Timeout | undefined;
    try {
      await within(new Promise<void>((resolve) => (poll = setInterval(() => view.controller !== null && firstAssignAt !== undefined && resolve(), 20))), 60_000, 'a first controller assigning');
    } finally {
      clearInterval(poll);
    }
    const readyMs = performance.now() - spawnedAt;
    if (busy) for (let i = 0; i < HOGS; i++) hogs.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));

    await sleep(options.warmupMs);
    const warmupViewChanges = viewChanges.length;
    const pids = [...bearmon.values()].map((c) => c.pid!);
    const cpuBefore = await Promise.all(pids.map(processCpuMs));
    const natsCpuBefore = await processCpuMs(nats.pid);
    const machineBefore = await machineCpuMs();
    windowStart = performance.now();
    await sleep(options.windowMs);
    windowEnd = performance.now();
    const cpuAfter = await Promise.all(pids.map(processCpuMs));
    const natsCpuAfter = await processCpuMs(nats.pid);
    const machineAfter = await machineCpuMs();
    const rss = await Promise.all(pids.map(peakRssBytes));
    const natsRss = await peakRssBytes(nats.pid);
    const windowS = (windowEnd - windowStart) / 1000;

    const cpuComplete = cpuBefore.every((v) => v !== undefined) && cpuAfter.every((v) => v !== undefined);
    const bearmonCpuMs = sum(cpuAfter) - sum(cpuBefore);
    const natsCpuMs = natsCpuAfter !== undefined && natsCpuBefore !== undefined ? natsCpuAfter - natsCpuBefore : NaN;
    let neverRun = 0;
    for (let id = 1; id <= checks; id++) if (runsOf[id] === 0) neverRun++;
    const ideal = checks / INTERVAL_S;
    const runsPerS = Math.round(results / windowS);
    const meanGap = gapsS.length > 0 ? gapsS.reduce((a, b) => a + b, 0) / gapsS.length : NaN;
    const cpuPerRun = results > 0 && cpuComplete ? Math.round((bearmonCpuMs / results) * 1000) / 1000 : NaN;
    const rssBearmon = sum(rss);
    const windowViewChanges = viewChanges.filter((c) => inWindow(c.at)).length;

    const figures: BenchFigure[] = [
      {
        label: `runs/s (results on bearmon.result.*.*; ideal ${ideal.toLocaleString('en')})`,
        value: runsPerS,
        unit: 'runs/s',
        ...(checks >= 10_000 ? { target: `≥ ${RUNS_TARGET_AT_10K.toLocaleString('en')}`, pass: runsPerS >= RUNS_TARGET_AT_10K } : {}),
      },
      { label: 'assign lines/s (bearmon.assign.>)', value: Math.round(assigns / windowS), unit: 'lines/s' },
      { label: 'results not online', value: notOnline, unit: 'runs' },
      { label: 'checks never run in the window', value: neverRun, unit: `of ${checks}`, target: '= 0', pass: neverRun === 0 },
      { label: 'gap between consecutive runs of one check, mean', value: Math.round(meanGap * 100) / 100, unit: 's', n: gapsS.length },
      ...distributionFigures('gap between consecutive runs of one check', gapsS, 's', { percentiles: [50, 99] }),
      {
        label: `CPU per run, the ${pids.length} bearmon processes${cpuComplete ? '' : ' (a process exited: not measured)'}`,
        value: cpuPerRun,
        unit: 'ms',
        target: `≤ ${CPU_PER_RUN_TARGET_MS}`,
        pass: cpuPerRun <= CPU_PER_RUN_TARGET_MS,
      },
      { label: 'CPU of the bearmon processes in the window', value: Math.round(bearmonCpuMs / windowS / 10), unit: '% of a core' },
      { label: 'CPU of nats-server in the window', value: Math.round(natsCpuMs / windowS / 10), unit: '% of a core' },
      { label: 'CPU per run, nats-server (not in the target)', value: results > 0 ? Math.round((natsCpuMs / results) * 1000) / 1000 : NaN, unit: 'ms' },
      ...(machineBefore && machineAfter
        ? [{ label: 'whole machine busy in the window (hogs and other sessions included)', value: Math.round((100 * (machineAfter.busy - machineBefore.busy)) / (machineAfter.total - machineBefore.total)), unit: '%' }]
        : []),
      {
        label: `peak RSS (VmHWM), sum of the ${pids.length} bearmon processes (${rss.map((b) => (b === undefined ? '—' : mb(b))).join(' + ')} MB)`,
        value: mb(rssBearmon),
        unit: 'MB',
        ...(checks === RSS_TARGET_AT ? { target: `≤ ${RSS_TARGET_MB}`, pass: mb(rssBearmon) <= RSS_TARGET_MB } : {}),
      },
      { label: 'peak RSS of nats-server', value: natsRss === undefined ? NaN : mb(natsRss), unit: 'MB' },
      { label: 'view changes in the window', value: windowViewChanges, unit: '', target: '= 0', pass: windowViewChanges === 0 },
      { label: `view changes in the warm-up (${options.warmupMs / 1000} s)`, value: warmupViewChanges, unit: '' },
      { label: 'spawn → first controller assigning', value: Math.round(readyMs), unit: 'ms' },
      { label: 'load average (1 min) when the scenario started', value: loadAtStart, unit: '' },
    ];
    if (exits.length > 0) figures.push({ label: `bearmon processes that exited during the run: ${exits.join(', ')}`, value: exits.length, unit: '', target: '= 0', pass: false });
    return {
      name,
      method:
        `viewserver + 3 \`bin/bearmon worker\` processes (own nats.conf users, source 127.0.0.2-4, numThreads ${NUM_THREADS}), fresh nats-server/stream/database; ` +
        `${checks} http checks (interval ${INTERVAL_S} s, delay 1, confirmations 2) against one loopback target in a child process; ` +
        `${options.warmupMs / 1000} s warm-up from the first assign line, then a ${options.windowMs / 1000} s window; runs and gaps from results seen on an admin connection; ` +
        `CPU from /proc/<pid>/stat over the window; RSS is the sum of per-process peaks (VmHWM), an upper bound of the simultaneous peak. Controllers named: ${[...controllers].join(', ') || 'none'}.`,
      figures,
    };
  } catch (err) {
    return { name, figures: [{ label: `failed: ${(err as Error).message}`, value: NaN, unit: '' }] };
  } finally {
    for (const hog of hogs) hog.kill('SIGKILL');
    await nc?.close().catch(() => {});
    await Promise.all([...bearmon.values()].map((child) => stopChild(child)));
    await Promise.all(hogs.map((hog) => stopChild(hog, 1_000)));
    await db?.drop().catch(() => {});
    await nats?.stop().catch(() => {});
  }
}

export async function benchLoad(options: LoadOptions = LOAD_DEFAULTS): Promise<BenchReport[]> {
  const target = await startTarget();
  const reports: BenchReport[] = [];
  try {
    for (const checks of options.sizes) {
      for (const busy of [false, true]) reports.push(await scenario(checks, busy, options, target.port));
    }
  } finally {
    if (target.child.connected) target.child.disconnect();
    if (target.child.exitCode === null && target.child.signalCode === null) {
      const exited = once(target.child, 'exit');
      const timer = setTimeout(() => target.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
  return reports;
}
