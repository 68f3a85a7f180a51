/**
 * Faulty probes: how often a worker's verdicts contradict the verdict the others reach.
 *
 * A worker whose own network is broken says "offline" about everything; the others keep
 * overruling it. Every overruled vote is a contradiction, every vote the decision bears out
 * an agreement. Over a sliding window (ten buckets) a worker with at least `minSamples`
 * samples is flagged when its contradiction ratio reaches `threshold`, and released when it
 * falls to `release` or below (the gap keeps a borderline worker from flapping).
 *
 * Pure: time is each sample's `at` (the result's time), so a replayed log scores exactly
 * as the live controller did.
 */
export interface ProbePolicy {
  windowMs: number;
  minSamples: number;
  threshold: number;
  release: number;
}

export const DEFAULT_PROBE_POLICY: ProbePolicy = Object.freeze({ windowMs: 600_000, minSamples: 20, threshold: 0.5, release: 0.2 });

/** What a controller does with a flagged worker: nothing at all, say so, or also stop counting its votes. */
export type QuarantineMode = 'off' | 'flag' | 'exclude';
export const QUARANTINE_MODES = ['off', 'flag', 'exclude'] as const satisfies readonly QuarantineMode[];

export interface WindowCounts {
  samples: number;
  contradictions: number;
}

/** The decision, alone: is the worker flagged after this window, given whether it was before? */
export function judgeProbe(counts: WindowCounts, flagged: boolean, policy: ProbePolicy): boolean {
  // Too few samples say nothing either way: the worker keeps its state.
  if (counts.samples < policy.minSamples) return flagged;
  const ratio = counts.contradictions / counts.samples;
  return flagged ? ratio > policy.release : ratio >= policy.threshold;
}

export interface ProbeScore extends WindowCounts {
  worker: string;
  /** contradictions / samples (0 without samples). */
  ratio: number;
  flagged: boolean;
  /** When the current flag was raised (absent when not flagged). */
  flaggedSince?: number;
}

export interface ProbeVerdict extends WindowCounts {
  worker: string;
  verdict: 'flagged' | 'released';
  ratio: number;
  at: number;
}

const BUCKETS = 10;

/** One worker's window: bucket index (at / bucketMs) and counts per ring slot. */
interface WorkerWindow {
  index: Float64Array;
  samples: Uint32Array;
  contradictions: Uint32Array;
  newest: number;
  flaggedSince: number | undefined;
  /** The window's totals as of `newest` (kept as samples land in the newest bucket, the usual case; recounted otherwise). */
  total: WindowCounts;
}

export class ProbeScorer {
  private readonly workers = new Map<string, WorkerWindow>();
  private readonly bucketMs: number;

  constructor(readonly policy: ProbePolicy = DEFAULT_PROBE_POLICY) {
    this.bucketMs = Math.max(1, policy.windowMs / BUCKETS);
  }

  /** One sample of a worker; returns the verdict when the worker's flag changes. */
  record(worker: string, at: number, agreed: boolean): ProbeVerdict | undefined {
    const window = this.windowOf(worker);
    const index = Math.floor(at / this.bucketMs);
    // Older than the window the worker's newest sample opened: it says nothing any more.
    if (index <= window.newest - BUCKETS) return undefined;
    const slot = ((index % BUCKETS) + BUCKETS) % BUCKETS;
    const sameBucket = window.index[slot] === index;
    if (!sameBucket) {
      window.index[slot] = index;
      window.samples[slot] = 0;
      window.contradictions[slot] = 0;
    }
    window.samples[slot]! += 1;
    if (!agreed) window.contradictions[slot]! += 1;
    if (sameBucket && index <= window.newest) {
      // The window did not move: the totals just gain this sample.
      window.total.samples += 1;
      if (!agreed) window.total.contradictions += 1;
    } else {
      window.newest = Math.max(window.newest, index);
      window.total = this.counts(window);
    }
    const counts = window.total;
    const was = window.flaggedSince !== undefined;
    const now = judgeProbe(counts, was, this.policy);
    if (now === was) return undefined;
    window.flaggedSince = now ? at : undefined;
    return { worker, verdict: now ? 'flagged' : 'released', samples: counts.samples, contradictions: counts.contradictions, ratio: ratioOf(counts), at };
  }

  isFlagged(worker: string): boolean {
    return this.workers.get(worker)?.flaggedSince !== undefined;
  }

  /** Flagged workers, for callers that ask often (the scheduler). */
  flagged(): string[] {
    const out: string[] = [];
    for (const [worker, window] of this.workers) if (window.flaggedSince !== undefined) out.push(worker);
    return out;
  }

  /** Every scored worker's window as of its newest sample. */
  scores(): ProbeScore[] {
    return [...this.workers].map(([worker, window]) => {
      const counts = this.counts(window);
      return { worker, ...counts, ratio: ratioOf(counts), flagged: window.flaggedSince !== undefined, ...(window.flaggedSince !== undefined ? { flaggedSince: window.flaggedSince } : {}) };
    });
  }

  exportWindows(): ProbeWindowImage[] {
    return [...this.workers].map(([worker, w]) => ({
      worker,
      index: [...w.index].map(finite),
      samples: [...w.samples],
      contradictions: [...w.contradictions],
      newest: finite(w.newest),
      ...(w.flaggedSince !== undefined ? { flaggedSince: w.flaggedSince } : {}),
    }));
  }

  /** Windows from a stored snapshot (validated by the caller); a window of another bucket count is left out. */
  importWindows(images: readonly ProbeWindowImage[]): void {
    for (const image of images) {
      if (image.index.length !== BUCKETS || image.samples.length !== BUCKETS || image.contradictions.length !== BUCKETS) continue;
      const window = this.windowOf(image.worker);
      image.index.forEach((v, i) => (window.index[i] = v ?? -Infinity));
      image.samples.forEach((v, i) => (window.samples[i] = v));
      image.contradictions.forEach((v, i) => (window.contradictions[i] = v));
      window.newest = image.newest ?? -Infinity;
      window.flaggedSince = image.flaggedSince;
      window.total = this.counts(window);
    }
  }

  private windowOf(worker: string): WorkerWindow {
    let window = this.workers.get(worker);
    if (!window) {
      window = { index: new Float64Array(BUCKETS).fill(-Infinity), samples: new Uint32Array(BUCKETS), contradictions: new Uint32Array(BUCKETS), newest: -Infinity, flaggedSince: undefined, total: { samples: 0, contradictions: 0 } };
      this.workers.set(worker, window);
    }
    return window;
  }

  private counts(window: WorkerWindow): WindowCounts {
    let samples = 0;
    let contradictions = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      if (window.index[slot]! <= window.newest - BUCKETS) continue;
      samples += window.samples[slot]!;
      contradictions += window.contradictions[slot]!;
    }
    return { samples, contradictions };
  }
}

/** One worker's window as a stored snapshot keeps it (plain arrays: JSON). */
export interface ProbeWindowImage {
  worker: string;
  index: (number | null)[];
  samples: number[];
  contradictions: number[];
  newest: number | null;
  flaggedSince?: number;
}

const finite = (n: number) => (Number.isFinite(n) ? n : null);

const ratioOf = ({ samples, contradictions }: WindowCounts) => (samples === 0 ? 0 : contradictions / samples);

/** The window's bucket width, for a reference model in tests and for docs. */
export const probeBucketMs = (policy: ProbePolicy) => Math.max(1, policy.windowMs / BUCKETS);
