/**
 * Replay throughput and memory (issues 3 and 12), on a log shaped like a real one:
 * 100,000 checks (interval 60 s, delay 1) watched by three workers with confirmations 2,
 * 1,000,000 results in all, each preceded by its `assign` line (as the live log and
 * `bearmon log export` have them, with the live fields), 1 % of the checks down for 2-4
 * consecutive rounds, confirmed the way the controller confirms (a disagreeing regular run,
 * then a confirmation run on another worker at once; for delay 1 a second round, whose
 * regular and confirmation runs go out together since the check is still pending), then
 * back up the same way, and 0.5 % of the checks with a one-result blip that the confirmation run
 * cancels. The generator counts what must come out (per check: transitions, times went
 * offline, accepted results, final status; total time offline) and the bench ASSERTS that
 * the replay derives exactly that: a replay that derives something else fails the bench.
 *
 * Timed, on the same file: a bare read + JSON.parse of every line (the floor), the replay
 * in this process (`replay()` with --summary output), and the CLI through a child process
 * (`bin/bearmon replay FILE --confirmations 2 --summary`, process start-up included). Then
 * retained heap per idle check after loading 100,000 checks.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDuration } from '../src/replay/explain.ts';
import { ReplayFold } from '../src/replay/fold.ts';
import { replay } from '../src/replay/run.ts';
import { fileRecordBatches } from '../src/replay/sources.ts';
import type { BenchFigure, BenchReport } from './report.ts';
import { round1 } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const WORKERS = ['w1', 'w2', 'w3'];
const CONFIRMATIONS = 2;
const DELAY = 1;
const INTERVAL_S = 60;
/** Share of checks with one sustained outage, and with one cancelled single-result blip. */
const DOWN_SHARE = 0.01;
const BLIP_SHARE = 0.005;
/** Issue 12's target for the CLI. */
const CLI_TARGET = 150_000;

export interface ReplayBenchOptions {
  checks: number;
  results: number;
}

export const REPLAY_DEFAULTS: ReplayBenchOptions = { checks: 100_000, results: 1_000_000 };
export const REPLAY_QUICK: ReplayBenchOptions = { checks: 10_000, results: 100_000 };

/** Deterministic pseudo-random numbers (mulberry32) so every run replays the same log. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the replay must derive from the generated log, per check and in total. */
export interface Expected {
  lines: number;
  results: number;
  outages: number;
  blips: number;
  /** Full rounds (every check ran) and the checks of the last, partial round. */
  rounds: number;
  partial: number;
  transitions: number;
  offlineMs: number;
  perCheck: { transitions: Uint32Array; wentOffline: Uint32Array; results: Uint32Array };
}

/** Per-check script: the round an outage starts and how many rounds it lasts, or a blip round. */
interface Script {
  outage?: { start: number; rounds: number };
  blip?: number;
}

function plan(options: ReplayBenchOptions, rand: () => number) {
  const outages = Math.round(options.checks * DOWN_SHARE);
  const blips = Math.round(options.checks * BLIP_SHARE);
  // Each outage adds a confirmation run to each of its 2 rounds, down and up (4 results);
  // each blip one. Regular runs fill the rest: full rounds, then a partial last round.
  const regular = options.results - outages * 2 * (DELAY + 1) * (CONFIRMATIONS - 1) - blips * (CONFIRMATIONS - 1);
  const rounds = Math.floor(regular / options.checks);
  const partial = regular - rounds * options.checks;
  // An outage needs a round before it (online first), DELAY + 1 rounds down and DELAY + 1 up, all in full rounds.
  if (rounds < 2 * (DELAY + 1) + 3) throw new Error(`replay bench: ${rounds} full rounds are too few for an outage and its recovery`);
  const ids = Array.from({ length: options.checks }, (_, i) => i + 1);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const scripts = new Map<number, Script>();
  for (const id of ids.slice(0, outages)) {
    const down = DELAY + 1 + Math.floor(rand() * 3); // 2-4 rounds down
    const latestStart = rounds - down - (DELAY + 1);
    scripts.set(id, { outage: { start: 1 + Math.floor(rand() * latestStart), rounds: down } });
  }
  for (const id of ids.slice(outages, outages + blips)) scripts.set(id, { blip: 1 + Math.floor(rand() * (rounds - 1)) });
  return { outages, blips, rounds, partial, scripts };
}

/**
 * Writes the log to `path` and returns what a replay of it must derive. The expected
 * figures are counted here, from the script, as the rule of SPEC §3 gives them for this
 * shape: a status change needs DELAY + 1 rounds of CONFIRMATIONS distinct workers; the
 * deciding result is the last round's confirmation, and the transition is dated by it.
 */
export async function generateLog(path: string, options: ReplayBenchOptions): Promise<Expected> {
  const rand = random(42);
  const { outages, blips, rounds, partial, scripts } = plan(options, rand);
  const n = options.checks;
  const perCheck = { transitions: new Uint32Array(n + 1), wentOffline: new Uint32Array(n + 1), results: new Uint32Array(n + 1) };
  let transitions = 0;
  let offlineMs = 0;
  let lines = 0;
  let results = 0;
  let sequence = 0;

  const out = createWriteStream(path);
  let chunk = '';
  const push = async (line: string) => {
    chunk += `${line}\n`;
    lines++;
    if (chunk.length < 1 << 20) return;
    if (!out.write(chunk)) await once(out, 'drain');
    chunk = '';
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  /** The controller's assign line (logged before the worker hears of the run); returns the assignment id. */
  const assign = async (checkId: number, worker: string, due: number, at: number) => {
    const assignment = `ctl.0.${at.toString(36)}.${(sequence++).toString(36)}`;
    await push(`{"type":"assign","checkId":${checkId},"worker":"${worker}","assignment":"${assignment}","at":"${iso(at)}","deadline":"${iso(at + 13_000)}","due":"${iso(due)}","view":0}`);
    return assignment;
  };
  /** The worker's result for an assignment; returns its time. */
  const result = async (checkId: number, worker: string, assignment: string, at: number, status: 'online' | 'offline') => {
    const durationMs = status === 'online' ? 3 : 1;
    const done = at + durationMs;
    const message = status === 'online' ? `connected in ${durationMs} ms` : 'connect ECONNREFUSED 127.0.0.1:9';
    await push(`{"type":"result","checkId":${checkId},"worker":"${worker}","assignment":"${assignment}","status":"${status}","message":"${message}","durationMs":${durationMs},"view":0,"at":"${iso(done)}"}`);
    perCheck.results[checkId]! += 1;
    results++;
    return done;
  };
  /** One run: its assign line, then its result. */
  const run = async (checkId: number, worker: string, due: number, at: number, status: 'online' | 'offline') =>
    result(checkId, worker, await assign(checkId, worker, due, at), at, status);

  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let id = 1; id <= n; id++) {
    await push(`{"type":"check","checkId":${id},"interval":${INTERVAL_S},"delay":${DELAY},"status":"online","at":"${iso(start)}","name":"bench ${id}","checkType":"tcp","view":0}`);
  }
  /** Per check: when it went offline (for the expected time offline). */
  const offlineSince = new Map<number, number>();
  /** The deciding result of a change at `at`: one transition, offline or back online. */
  const count = (id: number, wentDown: boolean, at: number) => {
    transitions++;
    perCheck.transitions[id]! += 1;
    if (wentDown) {
      perCheck.wentOffline[id]! += 1;
      offlineSince.set(id, at);
    } else {
      offlineMs += at - offlineSince.get(id)!;
      offlineSince.delete(id);
    }
  };
  for (let round = 0; round <= rounds; round++) {
    const checksThisRound = round < rounds ? n : partial;
    for (let id = 1; id <= checksThisRound; id++) {
      const due = start + (round + 1) * INTERVAL_S * 1000 + Math.floor(((id - 1) * INTERVAL_S * 1000) / n);
      const regular = WORKERS[(id + round) % WORKERS.length]!;
      const confirmer = WORKERS[(id + round + 1) % WORKERS.length]!;
      const script = scripts.get(id);
      const outage = script?.outage;
      const down = outage !== undefined && round >= outage.start && round < outage.start + outage.rounds;
      // Rounds of disagreement: the first DELAY + 1 rounds of the outage (going offline) and
      // of the recovery (going online); after those the results agree with the new status.
      const goingDown = outage !== undefined && round - outage.start >= 0 && round - outage.start <= DELAY;
      const goingUp = outage !== undefined && round - (outage.start + outage.rounds) >= 0 && round - (outage.start + outage.rounds) <= DELAY;
      const status = down ? 'offline' : 'online';
      const roundOfChange = goingDown ? round - outage!.start : goingUp ? round - (outage!.start + outage!.rounds) : -1;
      if (roundOfChange >= 1) {
        // Due while a change is pending (a round already completed): the controller sends the
        // regular run and the confirmation run together, so the round costs one run's time.
        const first = await assign(id, regular, due, due + 1);
        const second = await assign(id, confirmer, due + 1, due + 1);
        await result(id, regular, first, due + 1, status);
        const decided = await result(id, confirmer, second, due + 2, status);
        if (roundOfChange === DELAY) count(id, goingDown, decided);
        continue;
      }
      const done = await run(id, regular, due, due + 1, script?.blip === round ? 'offline' : status);
      if (script?.blip === round) {
        // The confirmation run finds it online: the suspicion is cancelled, nothing changes.
        await run(id, confirmer, done + 1, done + 1, 'online');
      } else if (goingDown || goingUp) {
        // The first disagreeing result: a confirmation run goes at once to another worker.
        const decided = await run(id, confirmer, done + 1, done + 1, status);
        if (roundOfChange === DELAY) count(id, goingDown, decided);
      }
    }
  }
  if (chunk.length > 0) out.write(chunk);
  out.end();
  await once(out, 'finish');
  if (offlineSince.size > 0 || results !== options.results) throw new Error('replay bench: the generator broke its own plan');
  return { lines, results, outages, blips, rounds, partial, transitions, offlineMs, perCheck };
}

/**
 * Checks a `--summary` table against what the generator expects; throws naming the first
 * differences. Rows: check, transitions, went offline, time offline (may hold spaces), partial, results, final;
 * the total row stops after partial.
 */
export function verifySummary(table: string, expected: Expected, who: string): void {
  const problems: string[] = [];
  const problem = (text: string) => void (problems.length < 5 && problems.push(text));
  let rows = 0;
  let total: string[] | undefined;
  for (const line of table.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells[0] === 'total') total = cells;
    if (!/^\d+$/.test(cells[0] ?? '')) continue;
    rows++;
    const id = Number(cells[0]);
    const [transitions, wentOffline] = [Number(cells[1]), Number(cells[2])];
    const [results, final] = [Number(cells[cells.length - 2]), cells[cells.length - 1]];
    if (id > expected.perCheck.results.length - 1) problem(`check ${id} was never generated`);
    else {
      if (transitions !== expected.perCheck.transitions[id]) problem(`check ${id}: ${transitions} transitions, expected ${expected.perCheck.transitions[id]}`);
      if (wentOffline !== expected.perCheck.wentOffline[id]) problem(`check ${id}: went offline ${wentOffline}×, expected ${expected.perCheck.wentOffline[id]}`);
      if (results !== expected.perCheck.results[id]) problem(`check ${id}: ${results} results counted, expected ${expected.perCheck.results[id]} (some rejected?)`);
      if (final !== 'online') problem(`check ${id} ends ${final}, expected online`);
    }
  }
  if (rows !== expected.perCheck.results.length - 1) problem(`${rows} check rows, expected ${expected.perCheck.results.length - 1}`);
  if (!total) problem('no total row');
  else {
    if (Number(total[1]) !== expected.transitions) problem(`total transitions ${total[1]}, expected ${expected.transitions}`);
    if (Number(total[2]) !== expected.outages) problem(`total went offline ${total[2]}, expected ${expected.outages}`);
    // Then time offline (it may hold spaces) and, last, partial outages (none in this log).
    const offline = total.slice(3, -1).join(' ');
    if (total.at(-1) !== '0') problem(`total partial outages ${total.at(-1)}, expected 0`);
    if (offline !== formatDuration(expected.offlineMs)) problem(`total time offline ${offline}, expected ${formatDuration(expected.offlineMs)}`);
  }
  if (problems.length > 0) throw new Error(`${who} derived something else than the generated log holds: ${problems.join('; ')}`);
}

/** Runs the CLI on `path`; resolves with its wall time, stdout and stderr. Throws on a non-zero exit. */
async function runCli(path: string, cwd: string): Promise<{ ms: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.BEARMON_CONFIG; // the defaults, not whatever configuration the shell has
  const began = performance.now();
  const child = spawn(BIN, ['replay', path, '--confirmations', String(CONFIRMATIONS), '--summary'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const [code] = (await once(child, 'close')) as [number | null];
  const ms = performance.now() - began;
  const stdout = Buffer.concat(out).toString();
  const stderr = Buffer.concat(err).toString();
  if (code !== 0) throw new Error(`bearmon replay exited ${code}: ${stderr.slice(0, 500)}`);
  return { ms, stdout, stderr };
}

function heapPerIdleCheck(checks: number): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const fold = new ReplayFold({ confirmations: CONFIRMATIONS });
  for (let id = 1; id <= checks; id++) fold.apply({ type: 'check', checkId: id, interval: INTERVAL_S, delay: DELAY, status: 'online' });
  gc();
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / checks;
  if (!fold.snapshotOf(checks)) throw new Error('fold lost a check');
  return Math.round(bytes);
}

export async function benchReplay(options: ReplayBenchOptions = REPLAY_DEFAULTS): Promise<BenchReport> {
  // Memory first, on a quiet heap.
  const perCheck = heapPerIdleCheck(options.checks);
  const dir = await mkdtemp(join(tmpdir(), 'bearmon-bench-replay-'));
  const path = join(dir, 'log.ndjson');
  try {
    let t = performance.now();
    const expected = await generateLog(path, options);
    const generateS = (performance.now() - t) / 1000;
    const bytes = (await stat(path)).size;

    // The floor: the same file read line by line (as the CLI reads it: a chunk of lines at a time) and JSON.parse-d, nothing else.
    t = performance.now();
    let parsed = 0;
    for await (const batch of fileRecordBatches(path)) for (const record of batch) if (JSON.parse(record.text)) parsed++;
    const parseS = (performance.now() - t) / 1000;
    if (parsed !== expected.lines) throw new Error(`read ${parsed} lines, wrote ${expected.lines}`);

    // In this process: what `bearmon replay FILE --summary` runs, without process start-up.
    let table = '';
    const errors: string[] = [];
    t = performance.now();
    const skipped = await replay(fileRecordBatches(path), { mode: 'summary', confirmations: CONFIRMATIONS }, { out: (text) => (table += `${text}\n`), err: (text) => errors.push(text) });
    const inProcessS = (performance.now() - t) / 1000;
    if (skipped > 0 || errors.length > 0) throw new Error(`in-process replay complained: ${errors.slice(0, 3).join('; ')}`);
    verifySummary(table, expected, 'in-process replay');
    table = '';

    // Through the CLI, a child process as a user runs it; start-up measured apart on a one-line log.
    const tiny = join(dir, 'one-check.ndjson');
    await writeFile(tiny, '{"type":"check","checkId":1,"interval":60,"delay":1,"status":"online"}\n');
    const startup = await runCli(tiny, dir);
    const cli = await runCli(path, dir);
    if (cli.stderr.trim() !== '') throw new Error(`bearmon replay wrote to stderr: ${cli.stderr.slice(0, 500)}`);
    verifySummary(cli.stdout, expected, 'bearmon replay (CLI)');

    const rate = (seconds: number) => Math.round(expected.results / seconds);
    const cliRate = rate(cli.ms / 1000);
    const figures: BenchFigure[] = [
      { label: 'CLI: bearmon replay FILE --confirmations 2 --summary, results / wall time (process start-up included)', value: cliRate, unit: 'results/s', target: `≥ ${CLI_TARGET} (issue 12)`, pass: cliRate >= CLI_TARGET },
      { label: 'CLI: wall time', value: round1(cli.ms / 1000), unit: 's' },
      { label: 'CLI: wall time on a one-line log (start-up alone)', value: round1(startup.ms / 1000), unit: 's' },
      { label: 'in process: replay() with --summary output, results / time', value: rate(inProcessS), unit: 'results/s' },
      { label: 'floor: read the same file + bare JSON.parse of every line, results / time', value: rate(parseS), unit: 'results/s' },
      { label: 'floor: the same, lines / time', value: Math.round(expected.lines / parseS), unit: 'lines/s' },
      { label: `transitions derived (asserted equal to the generator's, per check, in process and CLI)`, value: expected.transitions, unit: 'transitions' },
      { label: `checks down 2-4 rounds / cancelled blips (asserted: went offline per check)`, value: expected.outages, unit: `/ ${expected.blips}` },
      { label: `log: lines (check + assign + result) / size`, value: expected.lines, unit: `lines / ${round1(bytes / 2 ** 20)} MiB` },
      { label: 'log: generated in', value: round1(generateS), unit: 's' },
      { label: `retained heap per idle check, ${options.checks.toLocaleString('en')} checks loaded`, value: perCheck, unit: 'bytes', target: '≤ 1024', pass: perCheck <= 1024 },
    ];
    return {
      name: `replay: ${options.results.toLocaleString('en')} results over ${options.checks.toLocaleString('en')} checks, 3 workers, C=2, delay 1`,
      method:
        `Generated log: ${expected.rounds} full rounds + ${expected.partial.toLocaleString('en')} checks of a last one, one assign line per result, ` +
        `${expected.outages} checks down 2-4 rounds and back (confirmation runs included), ${expected.blips} single-result blips cancelled by their confirmation. ` +
        'Expected transitions, went-offline, results per check and total time offline come from the generator and are asserted against both replays.',
      figures,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
