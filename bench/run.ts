/**
 * Runs every benchmark and prints a readable table plus one JSON line per bench.
 * Always exits 0: a missed target is printed as MISS for a human to judge, not a failure.
 */
import { benchChecks } from './checks.ts';
import { benchFailover } from './failover.ts';
import { benchReplay } from './replay.ts';
import type { BenchReport } from './report.ts';

const benches: { name: string; run: () => Promise<BenchReport> }[] = [
  { name: 'checks', run: benchChecks },
  { name: 'replay', run: benchReplay },
  { name: 'controller', run: async () => (await import('./controller.ts')).benchController() },
  { name: 'failover', run: benchFailover },
  { name: 'takeover', run: async () => (await import('./takeover.ts')).benchTakeover() },
];

function table(report: BenchReport): string {
  const rows = report.figures.map((f) => [
    f.label,
    `${f.value} ${f.unit}`,
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'MISS',
  ]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd());
  return [`== ${report.name}`, ...lines].join('\n');
}

for (const bench of benches) {
  try {
    const report = await bench.run();
    console.log(table(report));
    console.log(JSON.stringify(report));
  } catch (err) {
    console.log(`== ${bench.name}: failed to run: ${(err as Error).stack ?? err}`);
  }
}
