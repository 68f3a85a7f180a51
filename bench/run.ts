/**
 * Runs the benchmarks: `npm run bench` (all), `npm run bench -- replay scale` (some),
 * `npm run bench -- --json` (machine-readable), `npm run bench -- --quick` (small sizes,
 * to check that the benches run; not for figures), `npm run bench -- --list`.
 *
 * Readable output: one table per bench, measured figures with their target and verdict,
 * then quoted figures apart. With --json, stdout carries nothing but JSON: one object per
 * bench per line (child processes write to stderr). npm prints its own "> bearmon bench"
 * banner on stdout before the script starts; `npm run -s bench -- --json` leaves it out.
 *
 * A missed target is printed as MISS for a human to judge and does not change the exit
 * code; a bench that fails to run (an assertion of its own included) exits 1.
 */
import { availableParallelism, loadavg } from 'node:os';
import { benchChecks } from './checks.ts';
import { CONTROLLER_PHASES, type ControllerPhase } from './controller.ts';
import { benchFailover } from './failover.ts';
import { benchReplay, REPLAY_DEFAULTS, REPLAY_QUICK } from './replay.ts';
import type { BenchReport } from './report.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const unknownFlags = args.filter((a) => a.startsWith('--') && !['--json', '--quick', '--list'].includes(a));

type Bench = { name: string; about: string; run: () => Promise<BenchReport | BenchReport[]> };
const controllerPhase = (phase: ControllerPhase) => async () => (await import('./controller.ts')).benchController({ phases: [phase], quick });
const BENCHES: Bench[] = [
  { name: 'checks', about: 'http and tcp checks/s against a plain http.get loop (~40 s)', run: benchChecks },
  { name: 'replay', about: 'replay of 1,000,000 results over 100,000 checks: in process, CLI, bare JSON.parse (~1.5 min)', run: () => benchReplay(quick ? REPLAY_QUICK : REPLAY_DEFAULTS) },
  { name: 'latency', about: 'controller: detection latency, 10 outages (~1 min)', run: controllerPhase('latency') },
  { name: 'scale', about: 'controller: 100,000 checks at 60 s, lateness against the logged due time (~2.5 min)', run: controllerPhase('scale') },
  { name: 'throughput', about: 'controller: accepted results/s with the result log on, capacity search (~2 min)', run: controllerPhase('throughput') },
  { name: 'regions', about: 'controller CPU per accepted result with regions + faulty-probe scoring on, next to off, alternated; and the fold alone (~4.5 min)', run: async () => { const r = await import('./regions.ts'); return r.benchRegions(quick ? r.REGIONS_QUICK : r.REGIONS_DEFAULTS); } },
  { name: 'replicated', about: 'result log on a 3-server NATS cluster: accepted events/s through the log publisher, 3 replicas next to 1 (~30 s)', run: async () => (await import('./replicated.ts')).benchReplicated(quick ? 10_000 : undefined) },
  { name: 'failover', about: 'kill -9 of the controller process, 20 times (~1.5 min)', run: () => benchFailover(quick ? 3 : undefined) },
  { name: 'takeover', about: 'controller take-over at two sizes of the result log (~1.5 min)', run: async () => (await import('./takeover.ts')).benchTakeover(quick ? (await import('./takeover.ts')).TAKEOVER_QUICK_SIZES : undefined) },
  { name: 'hanging', about: 'viewserver + 3 worker processes: a target that starts hanging → offline transition, 8 trials (~2 min)', run: async () => (await import('./hanging.ts')).benchHanging(quick ? 2 : undefined) },
  { name: 'viewserver-takeover', about: 'kill -9 of the active one of 3 viewserver processes, 10 times: lease taken and first view said by another (~1.5 min)', run: async () => (await import('./viewserver-takeover.ts')).benchViewserverTakeover(quick ? 2 : undefined) },
  { name: 'startup', about: 'CLI start-up: `bearmon --version` and `bearmon check list` against `node -e 0` (~20 s)', run: async () => (await import('./startup.ts')).benchStartup(quick ? 3 : undefined) },
  { name: 'history', about: 'history writer: CPU of rollups at 10,000 checks every 60 s against MariaDB, and bytes per check per year (~2 min)', run: async () => { const h = await import('./history.ts'); return h.benchHistory(quick ? h.HISTORY_QUICK : h.HISTORY_DEFAULTS); } },
  { name: 'load', about: 'viewserver + 3 worker processes: 2,000 and 10,000 http checks every 5 s, idle and with both cores busy (~6 min)', run: async () => { const load = await import('./load.ts'); return load.benchLoad(quick ? load.LOAD_QUICK : load.LOAD_DEFAULTS); } },
  { name: 'web', about: 'bearmon web: /api/checks and first renders in Chromium with 10,000 checks and 30 days of rollups (~2 min)', run: async () => { const web = await import('./web.ts'); return web.benchWeb(quick ? web.WEB_QUICK : web.WEB_DEFAULTS); } },
];
/** `controller` selects its three phases. */
const ALIASES: Record<string, string[]> = { controller: [...CONTROLLER_PHASES] };

if (args.includes('--list')) {
  for (const b of BENCHES) console.log(`${b.name.padEnd(12)} ${b.about}`);
  console.log(`${'controller'.padEnd(12)} = ${CONTROLLER_PHASES.join(' ')}`);
  process.exit(0);
}
const names = args.filter((a) => !a.startsWith('--')).flatMap((a) => ALIASES[a] ?? [a]);
const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length > 0 || unknownFlags.length > 0) {
  console.error(`unknown ${[...unknown, ...unknownFlags].join(', ')}; benches: ${BENCHES.map((b) => b.name).join(', ')}, controller; flags: --json --quick --list`);
  process.exit(2);
}
const selected = names.length === 0 ? BENCHES : BENCHES.filter((b) => names.includes(b.name));

// With --json, stdout is for the JSON lines alone: anything else that logs goes to stderr.
const emit = (text: string) => process.stdout.write(`${text}\n`);
if (json) console.log = console.info = console.warn;

function table(report: BenchReport): string {
  const rows = report.figures.map((f) => [
    f.label,
    `${Number.isNaN(f.value) ? '—' : f.value} ${f.unit}`.trim() + (f.n !== undefined ? ` (n=${f.n})` : ''),
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'MISS',
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd());
  const quoted = (report.quoted ?? []).map((q) => `  quoted, not measured: ${q.label}: ${q.value} ${q.unit} (${q.source})`);
  return [`== ${report.name}`, ...(report.method ? [`   ${report.method}`] : []), ...lines, ...quoted].join('\n');
}

const machine = () => ({ cpus: availableParallelism(), loadavg: loadavg().map((l) => Math.round(l * 100) / 100), node: process.version });
if (!json) console.log(`bearmon benchmarks ${new Date().toISOString()}${quick ? ' (QUICK sizes: not for figures)' : ''}; ${machine().cpus} cores, load ${machine().loadavg.join(' ')}, node ${process.version}\n`);

for (const bench of selected) {
  const startedAt = new Date().toISOString();
  const before = machine();
  const began = performance.now();
  try {
    const result = await bench.run();
    const wallS = Math.round((performance.now() - began) / 1000);
    for (const report of Array.isArray(result) ? result : [result]) {
      if (json) emit(JSON.stringify({ bench: bench.name, quick, startedAt, wallS, machine: before, ...report }));
      else console.log(`${table(report)}\n`);
    }
    // A bench whose own checks failed reports it as a figure named "failed: …".
    if ((Array.isArray(result) ? result : [result]).some((r) => r.figures.some((f) => f.label.startsWith('failed:')))) process.exitCode = 1;
  } catch (err) {
    process.exitCode = 1;
    if (json) emit(JSON.stringify({ bench: bench.name, quick, startedAt, machine: before, error: (err as Error).stack ?? String(err) }));
    else console.log(`== ${bench.name}: FAILED to run: ${(err as Error).stack ?? err}\n`);
  }
}

// A bench that failed may leave a timer or socket behind; the run is over either way.
process.stdout.write('', () => process.exit());
