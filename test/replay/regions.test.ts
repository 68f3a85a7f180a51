import { describe, expect, it } from 'vitest';
import { ReplayFold, type DerivedLine, type FoldOptions } from '../../src/replay/fold.ts';
import type { InputLine } from '../../src/log/lines.ts';
import { explainProbe } from '../../src/replay/explain.ts';

/** Folds the lines; returns every derived line. */
function fold(options: FoldOptions, lines: InputLine[]): { derived: DerivedLine[]; fold: ReplayFold } {
  const f = new ReplayFold(options);
  const derived: DerivedLine[] = [];
  for (const line of lines) {
    const { lines: out, error } = f.apply(line);
    if (error) throw new Error(error);
    derived.push(...out);
  }
  return { derived, fold: f };
}

const check = (checkId: number, extra: Partial<Extract<InputLine, { type: 'check' }>> = {}): InputLine => ({ type: 'check', checkId, interval: 10, delay: 1, status: 'online', ...extra });
const result = (checkId: number, worker: string, region: string | undefined, status: string, s: number): InputLine => ({
  type: 'result',
  checkId,
  worker,
  status: status as 'online',
  at: s * 1000,
  message: `${worker} says ${status}`,
  ...(region ? { region } : {}),
});
const types = (lines: DerivedLine[]) => lines.map((l) => (l.type === 'partial' ? `partial ${l.phase}` : l.type === 'probe' ? `probe ${l.worker} ${l.verdict}` : l.type));

describe('fold: regional outages', () => {
  // Verdicts are kept per worker once two regions have been heard from.
  const warmUp = [result(1, 'a1', 'eu', 'online', 0), result(1, 'b1', 'us', 'online', 0)];
  it('a target refusing one region: partial (which regions), no flip, and it ends when that region sees it again', () => {
    const { derived, fold: f } = fold({ confirmations: 2 }, [
      check(1, { minRegions: 2 }),
      ...warmUp,
      result(1, 'a1', 'eu', 'offline', 1),
      result(1, 'b1', 'us', 'online', 2),
      result(1, 'a1', 'eu', 'offline', 11),
      result(1, 'b2', 'us', 'online', 12),
      result(1, 'a1', 'eu', 'online', 21),
    ]);
    expect(types(derived)).toEqual(['pending', 'cancelled', 'pending', 'partial began', 'cancelled', 'partial ended']);
    expect(derived.find((l) => l.type === 'partial')).toEqual({
      type: 'partial',
      checkId: 1,
      phase: 'began',
      down: ['eu'],
      up: ['us'],
      since: new Date(11_000).toISOString(),
      at: new Date(11_000).toISOString(),
    });
    expect(derived.at(-1)).toMatchObject({ type: 'partial', phase: 'ended', reason: 'recovered', down: ['eu'], since: new Date(11_000).toISOString() });
    expect(f.contextOf(1)!.status).toBe('online');
    expect(f.partialOf(1)).toBeUndefined();
  });

  it('an outage that spreads to every region ends the partial one as offline when the check flips', () => {
    const { derived } = fold({ confirmations: 2 }, [
      check(1),
      ...warmUp,
      result(1, 'a1', 'eu', 'offline', 1),
      result(1, 'b1', 'us', 'online', 2),
      result(1, 'a1', 'eu', 'offline', 11),
      result(1, 'b1', 'us', 'offline', 12),
      result(1, 'a1', 'eu', 'offline', 21),
      result(1, 'b1', 'us', 'offline', 22),
    ]);
    expect(types(derived)).toEqual(['pending', 'cancelled', 'pending', 'partial began', 'round', 'round', 'transition', 'partial ended']);
    expect(derived.at(-1)).toMatchObject({ phase: 'ended', reason: 'offline', up: [] });
  });

  it('without two regions in the log there is no partial outage, and nothing else changes', () => {
    const { derived } = fold({ confirmations: 2 }, [check(1), result(1, 'a1', undefined, 'offline', 1), result(1, 'b1', undefined, 'online', 2), result(1, 'a1', undefined, 'offline', 11), result(1, 'b1', undefined, 'online', 12)]);
    expect(types(derived)).toEqual(['pending', 'cancelled', 'pending', 'cancelled']);
  });
});

describe('fold: backtesting regions (replay --regions)', () => {
  // Two workers of one data centre see the target down; the third region sees it up.
  const log: InputLine[] = [check(1, { delay: 0 }), result(1, 'a1', 'eu', 'offline', 1), result(1, 'a2', 'eu', 'offline', 2), result(1, 'b1', 'us', 'online', 3)];

  it('the same log flips with gobearmon\'s rule and does not when two regions are asked for', () => {
    // gobearmon's rule: offline at once; us's online result then opens the way back.
    expect(types(fold({ confirmations: 2 }, log).derived)).toEqual(['pending', 'round', 'transition', 'pending']);
    expect(types(fold({ confirmations: 2, regions: 2 }, log).derived)).toEqual(['pending', 'cancelled']);
  });
});

describe('fold: faulty probes', () => {
  const probe = { windowMs: 60_000, minSamples: 4, threshold: 0.5, release: 0.2 };
  /** w3's own network is broken: it says offline about every check, w1 and w2 overrule it. */
  function brokenRounds(from: number, rounds: number): InputLine[] {
    const lines: InputLine[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const id of [1, 2, 3]) {
        const s = from + round * 10 + id;
        lines.push(result(id, 'w3', undefined, 'offline', s), result(id, 'w1', undefined, 'online', s), result(id, 'w2', undefined, 'online', s));
      }
    }
    return lines;
  }
  const checks = [check(1, { delay: 0 }), check(2, { delay: 0 }), check(3, { delay: 0 })];

  it('flag: the worker whose verdicts are overruled is flagged; its votes still count; honest workers are not', () => {
    const { derived, fold: f } = fold({ confirmations: 2, quarantine: 'flag', probe }, [...checks, ...brokenRounds(0, 2)]);
    const probes = derived.filter((l) => l.type === 'probe');
    expect(probes).toEqual([expect.objectContaining({ worker: 'w3', verdict: 'flagged', excluded: false, samples: 4, contradictions: 4, ratio: 1 })]);
    expect(f.excludedWorkers()).toEqual([]);
    expect(f.probeScores().find((s) => s.worker === 'w1')).toMatchObject({ flagged: false, contradictions: 0 });
    // Flag only: its next offline vote still opens a suspicion.
    expect(types(derived).filter((t) => t === 'pending').length).toBe(6);
  });

  it('exclude: once flagged its results are rejected as quarantined and open no suspicion; audit runs release it when it agrees again', () => {
    const broken = fold({ confirmations: 2, quarantine: 'exclude', probe }, [...checks, ...brokenRounds(0, 3)]);
    expect(broken.fold.excludedWorkers()).toEqual(['w3']);
    const afterFlag = broken.derived.slice(broken.derived.findIndex((l) => l.type === 'probe') + 1);
    expect(afterFlag.some((l) => l.type === 'pending')).toBe(false);
    expect(afterFlag.filter((l) => l.type === 'rejected').map((l) => (l as { reason: string }).reason)).toEqual(Array(5).fill('worker is quarantined: its votes do not count'));

    // Its network heals: audit runs (scored, never votes) agree with the others.
    const audits: InputLine[] = [];
    for (let i = 0; i < 6; i++) {
      const at = 200_000 + i * 1000;
      audits.push({ type: 'assign', checkId: 1, worker: 'w3', assignment: `audit-${i}`, at, deadline: at + 5000, audit: true }, { ...(result(1, 'w3', undefined, 'online', at / 1000) as object), assignment: `audit-${i}` } as InputLine);
    }
    const healed = fold({ confirmations: 2, quarantine: 'exclude', probe }, [...checks, ...brokenRounds(0, 3), ...audits]);
    expect(healed.derived.filter((l) => l.type === 'probe').map((l) => (l as { verdict: string }).verdict)).toEqual(['flagged', 'released']);
    expect(healed.fold.excludedWorkers()).toEqual([]);
    // Audit results are no votes: no rejected line, no pending, the check is as it was.
    expect(healed.derived.slice(broken.derived.length).map((l) => l.type)).toEqual(['probe']);
  });

  it('a captive proxy (online about everything) is flagged on its verdicts about down checks, though it agrees with most verdicts', () => {
    const lines: InputLine[] = [...checks];
    const round = (r: number, honest: string) => {
      for (const id of [1, 2, 3]) {
        const s = r * 10 + id;
        lines.push(result(id, 'w1', undefined, honest, s), result(id, 'w2', undefined, honest, s), result(id, 'w3', undefined, 'online', s));
      }
    };
    for (let r = 0; r < 6; r++) round(r, 'online'); // quiet: w3 agrees 18 times
    for (let r = 6; r < 9; r++) round(r, 'offline'); // every check down: w3 keeps saying online
    const { derived, fold: f } = fold({ confirmations: 2, quarantine: 'flag', probe }, lines);
    expect(derived.filter((l) => l.type === 'transition').length).toBe(3);
    const probes = derived.filter((l) => l.type === 'probe');
    expect(probes).toEqual([{ type: 'probe', checkId: 1, worker: 'w3', verdict: 'flagged', excluded: false, basis: 'down', samples: 4, contradictions: 4, ratio: 1, at: new Date(81_000).toISOString() }]);
    expect(explainProbe(probes[0] as Extract<DerivedLine, { type: 'probe' }>)).toContain('100 % of its last 4 verdicts on checks that were down overruled');
    // Over all its verdicts it looks fine: it would not have been flagged on those.
    const w3 = f.probeScores().find((s) => s.worker === 'w3')!;
    expect(w3.ratio).toBeLessThan(probe.threshold);
    expect(w3).toMatchObject({ flagged: true, samples: 15, contradictions: 6, down: { samples: 6, contradictions: 6 } });
    for (const honest of ['w1', 'w2']) expect(f.probeScores().find((s) => s.worker === honest)).toMatchObject({ flagged: false, contradictions: 0 });
  });

  it('a vote overruled by a captive proxy is not condemned by that proxy\'s next verdict; another peer settles it', () => {
    const lines: InputLine[] = [
      check(1, { delay: 0 }),
      result(1, 'w2', undefined, 'online', 0), // w2 is heard from: the region has a witness besides w3
      result(1, 'w1', undefined, 'offline', 1), // suspicion
      result(1, 'w3', undefined, 'online', 2), // the captive proxy cancels it: w1 overruled, by w3
      result(1, 'w3', undefined, 'online', 3), // w3 again: no witness against the vote it cancelled
      result(1, 'w2', undefined, 'offline', 4), // a peer saying what w1 said: corroborated
    ];
    const { fold: f } = fold({ confirmations: 3, quarantine: 'flag', probe }, lines);
    expect(f.probeScores().find((s) => s.worker === 'w1')).toMatchObject({ samples: 1, contradictions: 0 });
  });

  it('a vote whose witness does not run the check within a rotation is dropped unjudged, not counted against it', () => {
    const lines: InputLine[] = [
      check(1, { delay: 0, interval: 1 }),
      result(1, 'w2', undefined, 'online', 0), // the witness, heard from once
      result(1, 'w1', undefined, 'offline', 1),
      result(1, 'w3', undefined, 'online', 2), // cancelled by w3; w2 could witness
      ...[3, 4, 5, 6, 7, 8].map((s) => result(1, 'w3', undefined, 'online', s)), // only w3 runs the check: the rotation (4 s) passes
    ];
    const { fold: f } = fold({ confirmations: 3, quarantine: 'flag', probe }, lines);
    // Never scored: its one vote was dropped (a contradiction before this rule).
    expect(f.probeScores().find((s) => s.worker === 'w1')).toBeUndefined();
    expect(f.probeScores().find((s) => s.worker === 'w3')).toMatchObject({ contradictions: 0 });
  });

  it('a lone worker\'s overruled vote, expired, is still borne out by the result that flips the check to what it suspected', () => {
    const lines: InputLine[] = [
      check(1, { delay: 0, interval: 1 }),
      result(1, 'a1', 'eu', 'offline', 1), // a1 alone in eu
      result(1, 'b1', 'us', 'online', 2), // cancelled: a1's vote waits, no witness in eu
      result(1, 'b2', 'us', 'offline', 4), // within the rotation (three workers seen: 4 s); suspects offline too
      result(1, 'b1', 'us', 'offline', 7), // past it, and the flip to offline: a1 was right
    ];
    const { fold: f, derived } = fold({ confirmations: 2, quarantine: 'flag', probe }, lines);
    expect(derived.filter((l) => l.type === 'transition')).toHaveLength(1);
    expect(f.probeScores().find((s) => s.worker === 'a1')).toMatchObject({ contradictions: 0 });
  });

  it('with no other worker in the region the one that overruled a vote is its witness (a broken worker beside one healthy one is still caught)', () => {
    const lines: InputLine[] = [check(1, { delay: 0 }), result(1, 'w3', undefined, 'offline', 1), result(1, 'w1', undefined, 'online', 2), result(1, 'w1', undefined, 'online', 3)];
    const { fold: f } = fold({ confirmations: 2, quarantine: 'flag', probe }, lines);
    expect(f.probeScores().find((s) => s.worker === 'w3')).toMatchObject({ samples: 1, contradictions: 1 });
  });

  it('a vote overruled and then borne out by the check flipping to what it suspected is an agreement', () => {
    const lines: InputLine[] = [
      check(1, { delay: 0 }),
      result(1, 'w1', 'eu', 'offline', 1),
      result(1, 'w3', 'eu', 'online', 2), // cancelled: w1 waits for its region (eu)
      result(1, 'w1', 'eu', 'offline', 3),
      result(1, 'w2', 'us', 'offline', 4), // not of w1's region, but the check flips offline: w1 was right
    ];
    const { fold: f, derived } = fold({ confirmations: 2, quarantine: 'flag', probe }, lines);
    expect(derived.filter((l) => l.type === 'transition')).toHaveLength(1);
    // The overruled vote and the flip's evidence: two agreements, no contradiction (it used to wait and expire as one).
    expect(f.probeScores().find((s) => s.worker === 'w1')).toMatchObject({ samples: 2, contradictions: 0 });
    expect(f.probeScores().find((s) => s.worker === 'w3')).toMatchObject({ contradictions: 0 });
  });

  it('a regional outage corroborated by a second worker of the region is not a faulty probe', () => {
    const lines: InputLine[] = [check(1)];
    for (let round = 0; round < 6; round++) {
      const s = round * 10;
      lines.push(result(1, 'a1', 'eu', 'offline', s + 1), result(1, 'a2', 'eu', 'offline', s + 2), result(1, 'b1', 'us', 'online', s + 3));
    }
    const { fold: f, derived } = fold({ confirmations: 2, regions: 2, quarantine: 'exclude', probe }, lines);
    expect(derived.some((l) => l.type === 'probe')).toBe(false);
    // Overruled, but corroborated by each other: agreements (their region sees it so), no contradiction.
    expect(f.probeScores().map((s) => [s.worker, s.samples, s.contradictions])).toEqual([
      ['b1', 6, 0],
      ['a1', 6, 0],
      ['a2', 6, 0],
    ]);
    expect(f.partialOf(1)).toMatchObject({ down: ['eu'], up: ['us'] });
  });
});

describe('fold image: a take-over from a stored snapshot keeps partial outages and scores', () => {
  const probe = { windowMs: 60_000, minSamples: 4, threshold: 0.5, release: 0.2 };
  const options: FoldOptions = { confirmations: 2, quarantine: 'exclude', probe };

  it('an outage in progress is not begun (and notified) again, and a quarantined worker stays quarantined', () => {
    const before: InputLine[] = [check(1, { minRegions: 2 }), check(2, { delay: 0 }), result(1, 'a1', 'eu', 'online', 0), result(1, 'b1', 'us', 'online', 0)];
    // Two workers in eu, so their overruled votes corroborate each other (a regional outage, not a faulty probe).
    before.push(result(1, 'a1', 'eu', 'offline', 1), result(1, 'a2', 'eu', 'offline', 1.5), result(1, 'b1', 'us', 'online', 2));
    before.push(result(1, 'a1', 'eu', 'offline', 11), result(1, 'a2', 'eu', 'offline', 11.5), result(1, 'b1', 'us', 'online', 12));
    // c1 (us, like b1 and d1) overruled on check 2 by b1 and contradicted by d1, of its own
    // region (the worker that overruled a vote is no witness against it): flagged and excluded.
    for (let i = 0; i < 5; i++) before.push(result(2, 'c1', 'us', 'offline', 20 + i * 2), result(2, 'b1', 'us', 'online', 21 + i * 2), result(2, 'd1', 'us', 'online', 21.5 + i * 2));
    const first = fold(options, before);
    expect(first.fold.partialOf(1)).toMatchObject({ down: ['eu'], up: ['us'] });
    expect(first.fold.excludedWorkers()).toEqual(['c1']);

    // Through JSON, as a stored snapshot holds it.
    const image = JSON.parse(JSON.stringify({ checks: first.fold.exportImage(), ...first.fold.exportExtras() }));
    const restored = ReplayFold.fromImage(options, image.checks, { probes: image.probes, probeWindowMs: image.probeWindowMs });
    expect(restored.partialOf(1)).toEqual(first.fold.partialOf(1));
    expect(restored.excludedWorkers()).toEqual(['c1']);
    expect(restored.probeScores()).toEqual(first.fold.probeScores());

    const after: InputLine[] = [result(1, 'a1', 'eu', 'offline', 31), result(1, 'a2', 'eu', 'offline', 31.5), result(1, 'b1', 'us', 'online', 32), result(2, 'c1', 'us', 'offline', 33), result(1, 'a1', 'eu', 'online', 41)];
    const derived = after.flatMap((line) => restored.apply(line).lines);
    expect(types(derived)).toEqual(['pending', 'cancelled', 'rejected', 'partial ended']);
    expect(derived.at(-1)).toMatchObject({ phase: 'ended', since: new Date(1_500).toISOString() });
  });

  it('overruled votes still waiting are kept: the successor judges them as a replay of the whole log does', () => {
    const before: InputLine[] = [check(1, { delay: 0 }), result(1, 'w2', undefined, 'online', 0), result(1, 'w1', undefined, 'offline', 1), result(1, 'w3', undefined, 'online', 2)];
    const after: InputLine[] = [result(1, 'w2', undefined, 'offline', 3)]; // the witness corroborates w1
    const whole = fold(options, [...before, ...after]);
    const first = fold(options, before);
    const image = JSON.parse(JSON.stringify({ checks: first.fold.exportImage(), ...first.fold.exportExtras() }));
    expect(image.checks[0].overruled).toEqual([['w1', 2000, 'offline', 'default', 'w3']]); // overruled at the cancel
    const restored = ReplayFold.fromImage(options, image.checks, { probes: image.probes, probeWindowMs: image.probeWindowMs });
    for (const line of after) restored.apply(line);
    expect(restored.probeScores().find((s) => s.worker === 'w1')).toMatchObject({ samples: 1, contradictions: 0 });
    expect(restored.probeScores()).toEqual(whole.fold.probeScores());
  });

  it('windows scored over another probe window are not taken', () => {
    const f = fold(options, [check(2, { delay: 0 }), ...[0, 1, 2, 3, 4].flatMap((i) => [result(2, 'c1', undefined, 'offline', i * 2), result(2, 'b1', undefined, 'online', i * 2 + 1), result(2, 'd1', undefined, 'online', i * 2 + 1.5)])]);
    const extras = f.fold.exportExtras();
    const other = ReplayFold.fromImage({ ...options, probe: { ...probe, windowMs: 120_000 } }, f.fold.exportImage(), extras);
    expect(other.excludedWorkers()).toEqual([]);
    expect(ReplayFold.fromImage(options, f.fold.exportImage(), extras).excludedWorkers()).toEqual(['c1']);
  });
});

describe('fold: review fixes', () => {
  const probe = { windowMs: 600_000, minSamples: 4, threshold: 0.5, release: 0.2 };

  it('a whole region losing every target: its workers corroborate each other later, are never flagged, and its partial outages stay open', () => {
    const lines: InputLine[] = [];
    for (let id = 1; id <= 10; id++) lines.push(check(id, { minRegions: 2 }));
    // us (b1, b2) sees nothing; eu (a1, a2) sees everything. Each round one worker of each region runs each check.
    for (let round = 0; round < 8; round++) {
      const [b, a] = round % 2 === 0 ? ['b1', 'a1'] : ['b2', 'a2'];
      for (let id = 1; id <= 10; id++) {
        const s = round * 10 + id * 0.1;
        lines.push(result(id, b!, 'us', 'offline', s), result(id, a!, 'eu', 'online', s + 0.05));
      }
    }
    const { derived, fold: f } = fold({ confirmations: 2, quarantine: 'exclude', probe }, lines);
    expect(derived.filter((l) => l.type === 'probe')).toEqual([]);
    for (const worker of ['b1', 'b2']) expect(f.probeScores().find((s) => s.worker === worker)).toMatchObject({ contradictions: 0, flagged: false });
    expect(derived.filter((l) => l.type === 'partial' && l.phase === 'ended')).toEqual([]);
    expect(f.partialChecks()).toHaveLength(10);
    expect(f.partialOf(1)).toMatchObject({ down: ['us'], up: ['eu'] });
  });

  it('a region that stops reporting keeps its partial outage open; its own verdict online ends it as recovered', () => {
    const lines: InputLine[] = [check(1, { minRegions: 2 }), result(1, 'a1', 'eu', 'online', 0), result(1, 'b1', 'us', 'online', 0)];
    lines.push(result(1, 'b1', 'us', 'offline', 10), result(1, 'a1', 'eu', 'online', 11), result(1, 'b1', 'us', 'offline', 20), result(1, 'a1', 'eu', 'online', 21));
    // us goes silent for far longer than a rotation; eu keeps reporting.
    for (let s = 30; s < 300; s += 10) lines.push(result(1, 'a1', 'eu', 'online', s));
    const silent = fold({ confirmations: 2 }, lines);
    expect(types(silent.derived).filter((t) => t.startsWith('partial'))).toEqual(['partial began']);
    expect(silent.fold.partialOf(1)).toMatchObject({ down: ['us'] });
    const back = fold({ confirmations: 2 }, [...lines, result(1, 'b1', 'us', 'online', 300)]);
    expect(back.derived.at(-1)).toMatchObject({ type: 'partial', phase: 'ended', reason: 'recovered' });
  });

  it('log export --since keeps a check\'s min_regions in its check lines', () => {
    const f = fold({ confirmations: 2 }, [check(1, { minRegions: 3 }), check(2)]);
    expect(f.fold.currentChecks(5).map((c) => [c.checkId, c.minRegions])).toEqual([
      [1, 3],
      [2, undefined],
    ]);
  });

  it('an audit run is no vote for the schedule (no held-back regular run, not a confirmer) and survives a stored image', () => {
    const f = new ReplayFold({ confirmations: 2, quarantine: 'exclude', probe });
    f.apply(check(1));
    f.apply({ type: 'assign', checkId: 1, worker: 'q', assignment: 'x1', at: 1000, deadline: 5000, audit: true, region: 'eu' });
    expect(f.hasOutstanding(1)).toBe(false);
    expect(f.outstandingWorkers(1)).toEqual([]);
    expect(f.hasAudit(1, 'q')).toBe(true);
    const image = JSON.parse(JSON.stringify(f.exportImage()));
    expect(ReplayFold.fromImage({ confirmations: 2 }, image).hasAudit(1, 'q')).toBe(true);
  });

  it('a result counts for the region its run was handed out for, not the one it claims', () => {
    const f = new ReplayFold({ confirmations: 2 });
    f.apply(check(1, { minRegions: 2, delay: 0 }));
    f.apply({ type: 'assign', checkId: 1, worker: 'a1', assignment: 'r1', at: 1000, deadline: 9000, region: 'eu' });
    f.apply({ type: 'assign', checkId: 1, worker: 'a2', assignment: 'r2', at: 1000, deadline: 9000, region: 'eu' });
    f.apply({ ...(result(1, 'a1', 'eu', 'offline', 2) as object), assignment: 'r1' } as InputLine);
    // a2 lies about its region: the round still spans eu only, no flip.
    const { lines } = f.apply({ ...(result(1, 'a2', 'us', 'offline', 3) as object), assignment: 'r2' } as InputLine);
    expect(lines.map((l) => l.type)).toEqual([]);
    expect(f.contextOf(1)).toMatchObject({ status: 'online', turn: ['a1', 'a2'], turnRegions: ['eu'] });
  });
});
