/**
 * Replay throughput and memory (issue 3): a generated log of 1,000,000 results over
 * 100,000 checks, ~1 % of them disagreeing with the current status, written to a file and
 * replayed as `bearmon replay FILE` does (streamed lines, parse, validation, machines,
 * output lines formatted). Compared with reading the same file and only JSON.parse-ing
 * each line, in the same run. Then retained heap per idle check after loading 100,000.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplayFold } from '../src/replay/fold.ts';
import { replay } from '../src/replay/run.ts';
import { fileRecords } from '../src/replay/sources.ts';
import type { BenchReport } from './report.ts';

const CHECKS = 100_000;
const RESULTS = 1_000_000;
const WORKERS = ['w1', 'w2', 'w3', 'w4'];

/** Deterministic pseudo-random numbers (mulberry32) so every run replays the same log. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes the log to `path`, streamed, and returns its line count. */
export async function generateLog(path: string): Promise<number> {
  const rand = random(42);
  const out = createWriteStream(path);
  const write = async (line: string) => {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  };
  for (let id = 1; id <= CHECKS; id++) await write(JSON.stringify({ type: 'check', checkId: id, interval: 60, delay: 1, status: 'online' }));
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < RESULTS; i++) {
    const disagree = rand() < 0.01;
    await write(
      JSON.stringify({
        type: 'result',
        checkId: 1 + Math.floor(rand() * CHECKS),
        worker: WORKERS[Math.floor(rand() * WORKERS.length)],
        status: disagree ? 'offline' : 'online',
        at: new Date(start + i * 60).toISOString(),
        message: disagree ? 'connect ECONNREFUSED' : 'HTTP 200 in 3 ms',
      }),
    );
  }
  out.end();
  await once(out, 'finish');
  return CHECKS + RESULTS;
}

function heapPerIdleCheck(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const fold = new ReplayFold({ confirmations: 2 });
  for (let id = 1; id <= CHECKS; id++) fold.apply({ type: 'check', checkId: id, interval: 60, delay: 1, status: 'online' });
  gc();
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / CHECKS;
  if (!fold.snapshotOf(CHECKS)) throw new Error('fold lost a check');
  return Math.round(bytes);
}

export async function benchReplay(): Promise<BenchReport> {
  // Memory first, on a quiet heap.
  const perCheck = heapPerIdleCheck();
  const dir = await mkdtemp(join(tmpdir(), 'bearmon-bench-replay-'));
  const path = join(dir, 'log.ndjson');
  try {
    const lines = await generateLog(path);
    let t = performance.now();
    let parsed = 0;
    for await (const record of fileRecords(path)) if (JSON.parse(record.text)) parsed++;
    const parseRate = Math.round(parsed / ((performance.now() - t) / 1000));

    let output = 0;
    t = performance.now();
    const skipped = await replay(fileRecords(path), { mode: 'ndjson', confirmations: 2 }, { out: (line) => (output += line.length > 0 ? 1 : 0), err: () => {} });
    const seconds = (performance.now() - t) / 1000;
    if (skipped > 0) throw new Error(`${skipped} generated lines skipped`);
    const rate = Math.round(RESULTS / seconds);
    return {
      name: `replay: ${RESULTS.toLocaleString('en')} results over ${CHECKS.toLocaleString('en')} checks (~1 % disagreeing), from a file`,
      figures: [
        { label: 'replay rate (results / total time)', value: rate, unit: 'results/s', target: '≥ 100000', pass: rate >= 100_000 },
        { label: 'read + plain JSON.parse of the same file', value: parseRate, unit: 'lines/s' },
        { label: 'lines in the log', value: lines, unit: 'lines' },
        { label: 'derived lines printed', value: output, unit: 'lines' },
        { label: 'retained heap per idle check', value: perCheck, unit: 'bytes', target: '≤ 1024', pass: perCheck <= 1024 },
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
