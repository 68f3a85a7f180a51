import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeProbe, probeBucketMs, ProbeScorer, type ProbePolicy } from '../../src/decide/probe-score.ts';

const policy: ProbePolicy = { windowMs: 10_000, minSamples: 4, threshold: 0.5, release: 0.2 };

describe('judgeProbe: the faulty-probe decision alone', () => {
  it.each([
    ['too few samples keep an unflagged worker unflagged', { samples: 3, contradictions: 3 }, false, false],
    ['too few samples keep a flagged worker flagged', { samples: 3, contradictions: 0 }, true, true],
    ['reaching the threshold flags', { samples: 4, contradictions: 2 }, false, true],
    ['just under the threshold does not', { samples: 5, contradictions: 2 }, false, false],
    ['a flagged worker above release stays flagged (hysteresis)', { samples: 10, contradictions: 3 }, true, true],
    ['a flagged worker at release is released', { samples: 10, contradictions: 2 }, true, false],
    ['never contradicting: never flagged', { samples: 1000, contradictions: 0 }, false, false],
    ['always contradicting: flagged', { samples: 4, contradictions: 4 }, false, true],
  ])('%s', (_name, counts, flagged, expected) => {
    expect(judgeProbe(counts, flagged, policy)).toBe(expected);
  });
});

describe('ProbeScorer', () => {
  it('flags a worker whose every verdict is overruled once it has minSamples, and releases it when its window agrees again', () => {
    const scorer = new ProbeScorer(policy);
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(scorer.record('bad', 1000 + i, false));
    expect(verdicts.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(verdicts[3]).toMatchObject({ worker: 'bad', verdict: 'flagged', samples: 4, contradictions: 4, ratio: 1, at: 1003 });
    expect(scorer.isFlagged('bad')).toBe(true);
    expect(scorer.flagged()).toEqual(['bad']);
    // Agreeing verdicts after the bad ones have left the window release it.
    const later = [];
    for (let i = 0; i < 4; i++) later.push(scorer.record('bad', 30_000 + i, true));
    expect(later.filter(Boolean)).toEqual([expect.objectContaining({ verdict: 'released', samples: 4, contradictions: 0 })]);
    expect(scorer.isFlagged('bad')).toBe(false);
  });

  it('scores workers apart, and reports every scored worker', () => {
    const scorer = new ProbeScorer(policy);
    for (let i = 0; i < 5; i++) {
      scorer.record('good', i, true);
      scorer.record('bad', i, false);
    }
    expect(scorer.scores()).toEqual([
      { worker: 'good', samples: 5, contradictions: 0, ratio: 0, flagged: false },
      { worker: 'bad', samples: 5, contradictions: 5, ratio: 1, flagged: true, flaggedSince: 3 },
    ]);
  });

  it('a sample older than the window of the newest is ignored', () => {
    const scorer = new ProbeScorer(policy);
    scorer.record('w', 100_000, true);
    expect(scorer.record('w', 1, false)).toBeUndefined();
    expect(scorer.scores()[0]).toMatchObject({ samples: 1, contradictions: 0 });
  });

  it('property: the flag always equals the decision replayed over a naive model of the window', () => {
    const bucket = probeBucketMs(policy);
    const sample = fc.record({ worker: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 3000 }), agreed: fc.boolean() });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 200 }), (samples) => {
        const scorer = new ProbeScorer(policy);
        const kept = new Map<string, { index: number; agreed: boolean }[]>();
        const flagged = new Map<string, boolean>();
        let at = 0;
        for (const s of samples) {
          at += s.dt;
          const index = Math.floor(at / bucket);
          const list = kept.get(s.worker) ?? [];
          list.push({ index, agreed: s.agreed });
          kept.set(s.worker, list);
          const newest = Math.max(...list.map((x) => x.index));
          const inWindow = list.filter((x) => x.index > newest - 10);
          const counts = { samples: inWindow.length, contradictions: inWindow.filter((x) => !x.agreed).length };
          const was = flagged.get(s.worker) ?? false;
          const now = judgeProbe(counts, was, policy);
          flagged.set(s.worker, now);
          const verdict = scorer.record(s.worker, at, s.agreed);
          // A verdict exactly when the model's flag changes, and in its direction.
          expect(verdict?.verdict).toBe(now === was ? undefined : now ? 'flagged' : 'released');
          expect(scorer.isFlagged(s.worker)).toBe(now);
          const score = scorer.scores().find((x) => x.worker === s.worker)!;
          expect([score.samples, score.contradictions]).toEqual([counts.samples, counts.contradictions]);
          expect(score.ratio).toBeGreaterThanOrEqual(0);
          expect(score.ratio).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: a worker that never contradicts is never flagged, one that always does is flagged from minSamples on', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 60 }), (gaps) => {
        const scorer = new ProbeScorer(policy);
        let at = 0;
        gaps.forEach((gap, i) => {
          at += gap;
          scorer.record('honest', at, true);
          scorer.record('broken', at, false);
          expect(scorer.isFlagged('honest')).toBe(false);
          // Gaps of at most 500 ms keep every sample of the run within the 10 s window while i < 20.
          if (i < 20) expect(scorer.isFlagged('broken')).toBe(i + 1 >= policy.minSamples);
        });
      }),
    );
  });
});
