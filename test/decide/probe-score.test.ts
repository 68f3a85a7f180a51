import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeProbe, judgeProbeOn, probeBucketMs, ProbeScorer, type ProbePolicy, type ProbeWindowImage } from '../../src/decide/probe-score.ts';

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

describe('judgeProbeOn: which verdicts a flag rests on', () => {
  // 100 verdicts, of which those on down checks are `down`.
  const captive = { samples: 100, contradictions: 20, down: { samples: 20, contradictions: 20 } };
  it.each([
    ['every verdict decides first (the rule before bases)', { samples: 4, contradictions: 4 }, false, { flagged: true, basis: 'all', tally: { samples: 4, contradictions: 4 } }],
    ['a captive proxy: fine over all its verdicts, always wrong on down checks: flagged on those', captive, false, { flagged: true, basis: 'down', tally: { samples: 20, contradictions: 20 } }],
    ['too few verdicts on down checks say nothing', { samples: 100, contradictions: 3, down: { samples: 3, contradictions: 3 } }, false, { flagged: false, basis: 'all', tally: { samples: 100, contradictions: 3 } }],
    ['wrong on up checks, diluted by agreeing on many down ones: flagged on the up ones', { samples: 100, contradictions: 10, down: { samples: 90, contradictions: 0 } }, false, { flagged: true, basis: 'up', tally: { samples: 10, contradictions: 10 } }],
    ['flagged on down checks and still wrong there: held, whatever the rest says', { samples: 100, contradictions: 5, down: { samples: 5, contradictions: 5 } }, true, { flagged: true, basis: 'down', tally: { samples: 5, contradictions: 5 } }],
    ['flagged, its down verdicts gone from the window, the rest agreeing: released', { samples: 100, contradictions: 0, down: { samples: 0, contradictions: 0 } }, true, { flagged: false, basis: 'all', tally: { samples: 100, contradictions: 0 } }],
    ['flagged, too few samples anywhere: kept', { samples: 3, contradictions: 0, down: { samples: 0, contradictions: 0 } }, true, { flagged: true, basis: 'all', tally: { samples: 3, contradictions: 0 } }],
    ['an honest worker through an outage: never flagged', { samples: 100, contradictions: 1, down: { samples: 40, contradictions: 1 } }, false, { flagged: false, basis: 'all', tally: { samples: 100, contradictions: 1 } }],
  ])('%s', (_name, counts, flagged, expected) => {
    expect(judgeProbeOn(counts, flagged, policy)).toEqual(expected);
    expect(judgeProbe(counts, flagged, policy)).toBe(expected.flagged);
  });
});

describe('ProbeScorer', () => {
  it('flags a worker whose every verdict is overruled once it has minSamples, and releases it when its window agrees again', () => {
    const scorer = new ProbeScorer(policy);
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(scorer.record('bad', 1000 + i, false, 'online'));
    expect(verdicts.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(verdicts[3]).toMatchObject({ worker: 'bad', verdict: 'flagged', samples: 4, contradictions: 4, ratio: 1, at: 1003 });
    expect(scorer.isFlagged('bad')).toBe(true);
    expect(scorer.flagged()).toEqual(['bad']);
    // Agreeing verdicts after the bad ones have left the window release it.
    const later = [];
    for (let i = 0; i < 4; i++) later.push(scorer.record('bad', 30_000 + i, true, 'online'));
    expect(later.filter(Boolean)).toEqual([expect.objectContaining({ verdict: 'released', samples: 4, contradictions: 0 })]);
    expect(scorer.isFlagged('bad')).toBe(false);
  });

  it('scores workers apart, and reports every scored worker', () => {
    const scorer = new ProbeScorer(policy);
    for (let i = 0; i < 5; i++) {
      scorer.record('good', i, true, 'online');
      scorer.record('bad', i, false, 'online');
    }
    expect(scorer.scores()).toEqual([
      { worker: 'good', samples: 5, contradictions: 0, ratio: 0, down: { samples: 0, contradictions: 0 }, flagged: false },
      { worker: 'bad', samples: 5, contradictions: 5, ratio: 1, down: { samples: 0, contradictions: 0 }, flagged: true, flaggedSince: 3 },
    ]);
  });

  it('a captive proxy (online about everything) is flagged on its verdicts about down checks, and released once they have left the window', () => {
    const scorer = new ProbeScorer(policy);
    for (let i = 0; i < 40; i++) expect(scorer.record('captive', 1000 + i, true, 'online')).toBeUndefined();
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(scorer.record('captive', 2000 + i, false, 'offline'));
    expect(verdicts.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(verdicts[3]).toEqual({ worker: 'captive', verdict: 'flagged', basis: 'down', samples: 4, contradictions: 4, ratio: 1, at: 2003 });
    expect(scorer.scores()[0]).toMatchObject({ samples: 44, contradictions: 4, down: { samples: 4, contradictions: 4 }, flagged: true });
    // The outage is over: agreeing on up checks after the down verdicts left the window releases it.
    const later = [];
    for (let i = 0; i < 4; i++) later.push(scorer.record('captive', 30_000 + i, true, 'online'));
    expect(later.filter(Boolean)).toEqual([expect.objectContaining({ verdict: 'released', basis: 'all', samples: 4, contradictions: 0 })]);
  });

  it('stored windows: down counts survive an image; an image from before them counts none; a hostile one cannot make counts negative', () => {
    const scorer = new ProbeScorer(policy);
    for (let i = 0; i < 4; i++) scorer.record('captive', 1000 + i, false, 'offline');
    const restored = new ProbeScorer(policy);
    restored.importWindows(JSON.parse(JSON.stringify(scorer.exportWindows())));
    expect(restored.scores()).toEqual(scorer.scores());
    expect(restored.isFlagged('captive')).toBe(true);

    const [image] = scorer.exportWindows() as [ProbeWindowImage];
    const old = new ProbeScorer(policy);
    old.importWindows([{ worker: image.worker, index: image.index, samples: image.samples, contradictions: image.contradictions, newest: image.newest }]);
    expect(old.scores()[0]).toMatchObject({ samples: 4, contradictions: 4, down: { samples: 0, contradictions: 0 } });

    const hostile = new ProbeScorer(policy);
    hostile.importWindows([{ ...image, downSamples: image.samples.map(() => 1_000), downContradictions: image.samples.map(() => 1_000) }]);
    expect(hostile.scores()[0]).toMatchObject({ samples: 4, contradictions: 4, down: { samples: 4, contradictions: 4 } });
    const short = new ProbeScorer(policy);
    short.importWindows([{ ...image, downSamples: [1] }]);
    expect(short.scores()).toEqual([]);
  });

  it('a sample older than the window of the newest is ignored', () => {
    const scorer = new ProbeScorer(policy);
    scorer.record('w', 100_000, true, 'online');
    expect(scorer.record('w', 1, false, 'online')).toBeUndefined();
    expect(scorer.scores()[0]).toMatchObject({ samples: 1, contradictions: 0 });
  });

  it('property: the flag always equals the decision replayed over a naive model of the window', () => {
    const bucket = probeBucketMs(policy);
    const sample = fc.record({ worker: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 3000 }), agreed: fc.boolean(), against: fc.constantFrom('online' as const, 'offline' as const) });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 200 }), (samples) => {
        const scorer = new ProbeScorer(policy);
        const kept = new Map<string, { index: number; agreed: boolean; down: boolean }[]>();
        const flagged = new Map<string, boolean>();
        let at = 0;
        for (const s of samples) {
          at += s.dt;
          const index = Math.floor(at / bucket);
          const list = kept.get(s.worker) ?? [];
          list.push({ index, agreed: s.agreed, down: s.against === 'offline' });
          kept.set(s.worker, list);
          const newest = Math.max(...list.map((x) => x.index));
          const inWindow = list.filter((x) => x.index > newest - 10);
          const down = inWindow.filter((x) => x.down);
          const counts = { samples: inWindow.length, contradictions: inWindow.filter((x) => !x.agreed).length, down: { samples: down.length, contradictions: down.filter((x) => !x.agreed).length } };
          const was = flagged.get(s.worker) ?? false;
          const now = judgeProbe(counts, was, policy);
          flagged.set(s.worker, now);
          const verdict = scorer.record(s.worker, at, s.agreed, s.against);
          // A verdict exactly when the model's flag changes, and in its direction.
          expect(verdict?.verdict).toBe(now === was ? undefined : now ? 'flagged' : 'released');
          expect(scorer.isFlagged(s.worker)).toBe(now);
          const score = scorer.scores().find((x) => x.worker === s.worker)!;
          expect([score.samples, score.contradictions, score.down]).toEqual([counts.samples, counts.contradictions, counts.down]);
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
          scorer.record('honest', at, true, 'online');
          scorer.record('broken', at, false, 'online');
          expect(scorer.isFlagged('honest')).toBe(false);
          // Gaps of at most 500 ms keep every sample of the run within the 10 s window while i < 20.
          if (i < 20) expect(scorer.isFlagged('broken')).toBe(i + 1 >= policy.minSamples);
        });
      }),
    );
  });
});
