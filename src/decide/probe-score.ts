/**
 * Faulty probes: how often a worker's verdicts contradict the verdict the others reach.
 *
 * A worker whose own network is broken says "offline" about everything; the others keep
 * overruling it. Every overruled vote is a contradiction, every vote the decision bears out
 * an agreement. Over a sliding window (ten buckets) a worker with at least `minSamples`
 * samples is flagged when its contradiction ratio reaches `threshold`, and released when it
 * falls to `release` or below (the gap keeps a borderline worker from flapping).
 *
 * Verdicts are also counted apart by what the check was when they were judged: up or down.
 * A worker behind a captive proxy says "online" about everything: it agrees with nearly
 * every verdict (checks are up most of the time), so over all its verdicts it looks fine,
 * yet it is overruled every time a check is down — and it cancels the others' suspicions
 * when asked to confirm them. Judged over its verdicts on down checks alone, it is flagged.
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

export interface Tally {
  samples: number;
  contradictions: number;
}

export interface WindowCounts extends Tally {
  /** Of those, the verdicts judged while the check was down (none when absent). */
  down?: Tally;
}

/** What a judgement rests on: every verdict in the window, or those on checks that were up, or down. */
export type ProbeBasis = 'all' | 'up' | 'down';

export interface ProbeJudgement {
  flagged: boolean;
  basis: ProbeBasis;
  /** The counts of that basis. */
  tally: Tally;
}

/** The decision, alone: is the worker flagged after this window, given whether it was before? */
export function judgeProbe(counts: WindowCounts, flagged: boolean, policy: ProbePolicy): boolean {
  return judgeProbeOn(counts, flagged, policy).flagged;
}

/**
 * The decision with its reason. Each basis with at least `minSamples` samples speaks; fewer
 * say nothing either way. An unflagged worker is flagged when a speaking basis reaches
 * `threshold`; a flagged one is released when every speaking basis is at `release` or below
 * (so a worker flagged on down checks is released once those verdicts have left the window
 * and its others agree: a healthy worker wrongly flagged is never held until the next outage).
 * Nothing speaking: the worker keeps its state.
 */
export function judgeProbeOn(counts: WindowCounts, flagged: boolean, policy: ProbePolicy): ProbeJudgement {
  const speaking = basesOf(counts).filter(([, tally]) => tally.samples >= policy.minSamples);
  const all = { basis: 'all', tally: { samples: counts.samples, contradictions: counts.contradictions } } as const;
  if (speaking.length === 0) return { flagged, ...all };
  const decisive = flagged ? speaking.find(([, tally]) => ratioOf(tally) > policy.release) : speaking.find(([, tally]) => ratioOf(tally) >= policy.threshold);
  return decisive ? { flagged: true, basis: decisive[0], tally: decisive[1] } : { flagged: false, ...all };
}

/** Every verdict first (the rule before bases), then down checks (a captive proxy), then up checks. */
function basesOf(counts: WindowCounts): [ProbeBasis, Tally][] {
  const down = counts.down ?? { samples: 0, contradictions: 0 };
  const up = { samples: counts.samples - down.samples, contradictions: counts.contradictions - down.contradictions };
  return [
    ['all', counts],
    ['down', down],
    ['up', up],
  ];
}

export interface ProbeScore extends Tally {
  worker: string;
  /** Of the samples, those judged while the check was down. */
  down: Tally;
  /** contradictions / samples (0 without samples). */
  ratio: number;
  flagged: boolean;
  /** When the current flag was raised (absent when not flagged). */
  flaggedSince?: number;
}

/** A change of flag; samples, contradictions and ratio are those of the basis it rests on. */
export interface ProbeVerdict extends Tally {
  worker: string;
  verdict: 'flagged' | 'released';
  basis: ProbeBasis;
  ratio: number;
  at: number;
}

const BUCKETS = 10;

/** One worker's window: bucket index (at / bucketMs) and counts per ring slot. */
interface WorkerWindow {
  index: Float64Array;
  samples: Uint32Array;
  contradictions: Uint32Array;
  /** Of those, the samples judged while the check was down. */
  downSamples: Uint32Array;
  downContradictions: Uint32Array;
  newest: number;
  flaggedSince: number | undefined;
  /** The window's totals as of `newest` (kept as samples land in the newest bucket, the usual case; recounted otherwise). */
  total: Required<WindowCounts>;
}

export class ProbeScorer {
  private readonly workers = new Map<string, WorkerWindow>();
  private readonly bucketMs: number;

  constructor(readonly policy: ProbePolicy = DEFAULT_PROBE_POLICY) {
    this.bucketMs = Math.max(1, policy.windowMs / BUCKETS);
  }

  /**
   * One sample of a worker: whether its verdict `agreed` with the one reached, judged
   * `against` the check's status at the time. Returns the verdict when the worker's flag changes.
   */
  record(worker: string, at: number, agreed: boolean, against: 'online' | 'offline'): ProbeVerdict | undefined {
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
      window.downSamples[slot] = 0;
      window.downContradictions[slot] = 0;
    }
    const down = against === 'offline';
    window.samples[slot]! += 1;
    if (!agreed) window.contradictions[slot]! += 1;
    if (down) {
      window.downSamples[slot]! += 1;
      if (!agreed) window.downContradictions[slot]! += 1;
    }
    if (sameBucket && index <= window.newest) {
      // The window did not move: the totals just gain this sample.
      const total = window.total;
      total.samples += 1;
      if (!agreed) total.contradictions += 1;
      if (down) {
        total.down.samples += 1;
        if (!agreed) total.down.contradictions += 1;
      }
    } else {
      window.newest = Math.max(window.newest, index);
      window.total = this.counts(window);
    }
    const was = window.flaggedSince !== undefined;
    const judgement = judgeProbeOn(window.total, was, this.policy);
    if (judgement.flagged === was) return undefined;
    window.flaggedSince = judgement.flagged ? at : undefined;
    const { tally, basis } = judgement;
    return { worker, verdict: judgement.flagged ? 'flagged' : 'released', basis, samples: tally.samples, contradictions: tally.contradictions, ratio: ratioOf(tally), at };
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
      return { worker, samples: counts.samples, contradictions: counts.contradictions, ratio: ratioOf(counts), down: counts.down, flagged: window.flaggedSince !== undefined, ...(window.flaggedSince !== undefined ? { flaggedSince: window.flaggedSince } : {}) };
    });
  }

  exportWindows(): ProbeWindowImage[] {
    return [...this.workers].map(([worker, w]) => ({
      worker,
      index: [...w.index].map(finite),
      samples: [...w.samples],
      contradictions: [...w.contradictions],
      downSamples: [...w.downSamples],
      downContradictions: [...w.downContradictions],
      newest: finite(w.newest),
      ...(w.flaggedSince !== undefined ? { flaggedSince: w.flaggedSince } : {}),
    }));
  }

  /**
   * Windows from a stored snapshot (validated by the caller); a window of another bucket
   * count is left out. An image from before down checks were counted apart counts none.
   */
  importWindows(images: readonly ProbeWindowImage[]): void {
    const fits = (list: readonly unknown[] | undefined) => list === undefined || list.length === BUCKETS;
    for (const image of images) {
      if (image.index.length !== BUCKETS || image.samples.length !== BUCKETS || image.contradictions.length !== BUCKETS) continue;
      if (!fits(image.downSamples) || !fits(image.downContradictions)) continue;
      const window = this.windowOf(image.worker);
      image.index.forEach((v, i) => (window.index[i] = v ?? -Infinity));
      image.samples.forEach((v, i) => (window.samples[i] = v));
      image.contradictions.forEach((v, i) => (window.contradictions[i] = v));
      // Never more down samples than samples: a hand-edited image must not make counts negative.
      image.downSamples?.forEach((v, i) => (window.downSamples[i] = Math.min(v, window.samples[i]!)));
      image.downContradictions?.forEach((v, i) => (window.downContradictions[i] = Math.min(v, window.downSamples[i]!, window.contradictions[i]!)));
      window.newest = image.newest ?? -Infinity;
      window.flaggedSince = image.flaggedSince;
      window.total = this.counts(window);
    }
  }

  private windowOf(worker: string): WorkerWindow {
    let window = this.workers.get(worker);
    if (!window) {
      window = {
        index: new Float64Array(BUCKETS).fill(-Infinity),
        samples: new Uint32Array(BUCKETS),
        contradictions: new Uint32Array(BUCKETS),
        downSamples: new Uint32Array(BUCKETS),
        downContradictions: new Uint32Array(BUCKETS),
        newest: -Infinity,
        flaggedSince: undefined,
        total: { samples: 0, contradictions: 0, down: { samples: 0, contradictions: 0 } },
      };
      this.workers.set(worker, window);
    }
    return window;
  }

  private counts(window: WorkerWindow): Required<WindowCounts> {
    const total = { samples: 0, contradictions: 0, down: { samples: 0, contradictions: 0 } };
    for (let slot = 0; slot < BUCKETS; slot++) {
      if (window.index[slot]! <= window.newest - BUCKETS) continue;
      total.samples += window.samples[slot]!;
      total.contradictions += window.contradictions[slot]!;
      total.down.samples += window.downSamples[slot]!;
      total.down.contradictions += window.downContradictions[slot]!;
    }
    return total;
  }
}

/** One worker's window as a stored snapshot keeps it (plain arrays: JSON). */
export interface ProbeWindowImage {
  worker: string;
  index: (number | null)[];
  samples: number[];
  contradictions: number[];
  /** Absent in images stored before down checks were counted apart. */
  downSamples?: number[];
  downContradictions?: number[];
  newest: number | null;
  flaggedSince?: number;
}

const finite = (n: number) => (Number.isFinite(n) ? n : null);

const ratioOf = ({ samples, contradictions }: Tally) => (samples === 0 ? 0 : contradictions / samples);

/** " on checks that were down" (or up) after "N verdicts" when a verdict rests on those alone; "" for all of them. */
export const basisWords = (basis: ProbeBasis | undefined): string => (basis === 'down' ? ' on checks that were down' : basis === 'up' ? ' on checks that were up' : '');

/** The window's bucket width, for a reference model in tests and for docs. */
export const probeBucketMs = (policy: ProbePolicy) => Math.max(1, policy.windowMs / BUCKETS);
