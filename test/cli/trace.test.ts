import { describe, expect, it } from 'vitest';
import { subject } from '../../src/bus/subjects.ts';
import { formatEvent } from '../../src/trace.ts';

/** The fields of a trace line (they stand two spaces or more apart). */
const fields = (text: string) => text.split(/ {2,}/);
const decision = (payload: object) => formatEvent(subject.decision('c1', 7), JSON.stringify(payload), new Map([[7, 'shop']]));

describe('bearmon trace: partial outages and faulty probes', () => {
  it('a partial line: phase, the regions offline and online, since when', () => {
    const began = { type: 'partial', checkId: 7, phase: 'began', down: ['eu'], up: ['us', 'ap'], since: '2026-01-01T03:14:05.000Z', at: '2026-01-01T03:14:05.000Z' };
    expect(fields(decision(began))).toEqual(['03:14:05.000', 'partial', 'check 7 (shop)', '-', 'began', 'offline from eu, online from us,ap; since 2026-01-01T03:14:05.000Z']);
    const ended = { ...began, phase: 'ended', reason: 'offline', up: [], at: '2026-01-01T03:20:00.000Z' };
    expect(fields(decision(ended))).toEqual(['03:20:00.000', 'partial', 'check 7 (shop)', '-', 'ended offline', 'offline from eu, online from -; since 2026-01-01T03:14:05.000Z']);
  });

  it('a probe line: the worker, flagged or released, its score and whether its votes count', () => {
    const flagged = { type: 'probe', checkId: 7, worker: 'w3', verdict: 'flagged', excluded: true, samples: 20, contradictions: 20, ratio: 1, at: '2026-01-01T03:15:00.000Z' };
    expect(fields(decision(flagged))).toEqual(['03:15:00.000', 'probe', 'check 7 (shop)', 'w3', 'flagged', '20/20 verdicts overruled (100 %), votes excluded']);
    const released = { ...flagged, verdict: 'released', excluded: false, contradictions: 3, ratio: 0.15 };
    expect(fields(decision(released))).toEqual(['03:15:00.000', 'probe', 'check 7 (shop)', 'w3', 'released', '3/20 verdicts overruled (15 %)']);
    // A captive proxy: flagged on its verdicts about checks that were down.
    const captive = { ...flagged, excluded: false, basis: 'down', samples: 4, contradictions: 4 };
    expect(fields(decision(captive))).toEqual(['03:15:00.000', 'probe', 'check 7 (shop)', 'w3', 'flagged', '4/4 verdicts on checks that were down overruled (100 %), votes still count']);
    // A basis it does not know is not printed (a line from the wire is untrusted).
    expect(fields(decision({ ...captive, basis: '<script>' }))).toEqual(['03:15:00.000', 'probe', 'check 7 (shop)', 'w3', 'flagged', '4/4 verdicts overruled (100 %), votes still count']);
  });

  it('other decision lines print as before', () => {
    const round = { type: 'round', checkId: 7, round: 1, of: 2, suspected: 'offline', workers: ['w1', 'w2'], at: '2026-01-01T03:14:06.000Z' };
    expect(fields(decision(round))).toEqual(['03:14:06.000', 'round', 'check 7 (shop)', 'w1,w2', 'offline', 'round 1/2']);
  });
});
