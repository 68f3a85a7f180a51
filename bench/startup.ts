/**
 * CLI start-up (issue 13): wall time of `bearmon --version` and `bearmon check list` (a
 * local database of 20 checks, no NATS) against `node -e 0`, interleaved in the same run
 * so a busy moment hits all three alike. Each command is a whole process: spawn → exit.
 * bin/bearmon runs the compiled dist/ (built by the set-up; the bench builds it when stale).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createBenchDatabase } from './database.ts';
import type { BenchReport } from './report.ts';
import { percentile } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const BUILD = fileURLToPath(new URL('../scripts/build.mjs', import.meta.url));
const ROUNDS = 15;
const TARGETS = { version: 3, list: 5 };

async function wallMs(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const began = performance.now();
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`${[command, ...args].join(' ')} exited ${code}: ${stderr.slice(0, 300)}`);
  return performance.now() - began;
}

export async function benchStartup(rounds = ROUNDS): Promise<BenchReport> {
  execFileSync(process.execPath, [BUILD], { stdio: 'ignore' });
  const db = await createBenchDatabase();
  try {
    await db.replaceChecks(Array.from({ length: 20 }, (_, i) => ({ name: `c${i}`, type: 'tcp', data: JSON.stringify({ address: '127.0.0.1:9' }), interval: 60, delay: 1 })));
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', BEARMON_CONTROLLER_DATABASE: db.dsn, BEARMON_NATS_URL: 'nats://127.0.0.1:1' };
    const samples = { node: [] as number[], version: [] as number[], list: [] as number[] };
    // One warm-up of each (the page cache), then interleaved rounds.
    for (let round = -1; round < rounds; round++) {
      const node = await wallMs(process.execPath, ['-e', '0'], env);
      const version = await wallMs(BIN, ['--version'], env);
      const list = await wallMs(BIN, ['check', 'list'], env);
      if (round < 0) continue;
      samples.node.push(node);
      samples.version.push(version);
      samples.list.push(list);
    }
    const median = (v: number[]) => Math.round(percentile(v, 50));
    const ratio = (v: number[]) => Math.round((median(v) / median(samples.node)) * 10) / 10;
    return {
      name: 'CLI start-up: spawn → exit',
      method: `${rounds} interleaved rounds after one warm-up; medians; \`check list\` reads a local MariaDB database of 20 checks`,
      figures: [
        { label: '`node -e 0`, median', value: median(samples.node), unit: 'ms', n: rounds },
        { label: '`bearmon --version`, median', value: median(samples.version), unit: 'ms', n: rounds },
        { label: '`bearmon check list`, median', value: median(samples.list), unit: 'ms', n: rounds },
        { label: '`bearmon --version` / `node -e 0`', value: ratio(samples.version), unit: '×', target: `≤ ${TARGETS.version}`, pass: ratio(samples.version) <= TARGETS.version },
        { label: '`bearmon check list` / `node -e 0`', value: ratio(samples.list), unit: '×', target: `≤ ${TARGETS.list}`, pass: ratio(samples.list) <= TARGETS.list },
      ],
    };
  } finally {
    await db.drop().catch(() => {});
  }
}
