/** Small statistics helpers shared by the benches. */
import type { BenchFigure } from './report.ts';

/** The p-th percentile (nearest rank) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Fewest samples for which the p-th percentile (nearest rank) is something other than the
 * maximum: 2 for p50, 20 for p95, 100 for p99. Below it a "p99" is the max under another name.
 */
export function minSamplesFor(p: number): number {
  return Math.ceil(100 / (100 - p));
}

export const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * A distribution as figures: each asked-for percentile the sample supports, then the max,
 * all with their sample size. A target on a percentile the sample cannot support is held
 * against the max instead (stricter), and the label says so.
 */
export function distributionFigures(
  label: string,
  values: readonly number[],
  unit: string,
  options: { percentiles?: number[]; target?: { percentile: number; atMost: number } } = {},
): BenchFigure[] {
  const n = values.length;
  if (n === 0) return [{ label: `${label}: no samples`, value: NaN, unit, n: 0, ...(options.target ? { target: `≤ ${options.target.atMost}`, pass: false } : {}) }];
  const figures: BenchFigure[] = [];
  const target = options.target;
  let targetPlaced = false;
  for (const p of options.percentiles ?? [50, 99]) {
    if (n < minSamplesFor(p)) continue;
    const value = round1(percentile(values, p));
    const figure: BenchFigure = { label: `${label}, p${p}`, value, unit, n };
    if (target?.percentile === p) {
      Object.assign(figure, { target: `≤ ${target.atMost}`, pass: value <= target.atMost });
      targetPlaced = true;
    }
    figures.push(figure);
  }
  // Not Math.max(...values): a spread of 100,000+ arguments overflows the stack.
  const max = round1(values.reduce((a, b) => (b > a ? b : a), -Infinity));
  const maxFigure: BenchFigure = { label: `${label}, max`, value: max, unit, n };
  if (target && !targetPlaced) {
    maxFigure.label = `${label}, max (too few samples for p${target.percentile}: held against its target)`;
    Object.assign(maxFigure, { target: `p${target.percentile} ≤ ${target.atMost}`, pass: max <= target.atMost });
  }
  figures.push(maxFigure);
  return figures;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or rejects with `what` timed out after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
