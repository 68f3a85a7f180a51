import fc from 'fast-check';
import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { checkMachine, initialSnapshot, type CheckEvent, type CheckInput, type CheckSnapshot, type Status } from '../../src/machines/check.ts';

type Fact = { type: string; params: Record<string, unknown> };

/** Feeds events through the pure machine; returns every fact it derived, in order. */
function run(input: CheckInput, events: CheckEvent[], start?: CheckSnapshot) {
  let [snapshot] = start ? [start] : initialTransition(checkMachine, input);
  const facts: Fact[] = [];
  for (const event of events) {
    const [next, actions] = transition(checkMachine, snapshot, event);
    snapshot = next;
    for (const a of actions) facts.push({ type: a.type, params: a.params as Record<string, unknown> });
  }
  return { snapshot, facts, transitions: facts.filter((f) => f.type === 'transitioned').map((f) => [f.params.to, f.params.at]) };
}

const r = (worker: string, status: string, at: number, message = ''): CheckEvent => ({ type: 'RESULT', worker, status, at, message });
const input = (confirmations: number, delay: number, status: Status = 'online', interval = 60): CheckInput => ({
  checkId: 1,
  status,
  delay,
  interval,
  confirmations,
});

describe('check machine: the rule of SPEC §3', () => {
  it('seed example: I=60, C=4, D=3 goes offline only after 4 rounds of 4 distinct workers', () => {
    const workers = ['w1', 'w2', 'w3', 'w4'];
    const events: CheckEvent[] = [];
    // Round k (k = 0..3) happens at minute k; each worker reports within the same minute.
    for (let round = 0; round < 4; round++) workers.forEach((w, i) => events.push(r(w, 'offline', round * 60_000 + i * 1000)));
    const { transitions, facts, snapshot } = run(input(4, 3), events);
    expect(facts.filter((f) => f.type === 'roundCompleted').map((f) => [f.params.round, f.params.of])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
    expect(transitions).toEqual([['offline', 183_000]]);
    expect(snapshot.value).toBe('offline');
    // One result fewer and nothing flips.
    expect(run(input(4, 3), events.slice(0, -1)).transitions).toEqual([]);
  });

  it.each([
    ['C=1 D=0: a single offline result flips at once', input(1, 0), [r('a', 'offline', 5)], [['offline', 5]]],
    ['C=1 D=1: needs two results', input(1, 1), [r('a', 'offline', 1), r('a', 'offline', 2)], [['offline', 2]]],
    [
      'a flaky single worker never satisfies C=2',
      input(2, 0),
      [r('a', 'offline', 1), r('a', 'offline', 2), r('a', 'offline', 3), r('a', 'online', 4), r('a', 'offline', 5)],
      [],
    ],
    [
      'duplicate results from one worker in one round count once',
      input(3, 0),
      [r('a', 'offline', 1), r('a', 'offline', 2), r('b', 'offline', 3), r('b', 'offline', 4)],
      [],
    ],
    [
      'an agreeing result mid-round cancels the suspected change',
      input(2, 1),
      [r('a', 'offline', 1), r('b', 'offline', 2), r('c', 'online', 3), r('a', 'offline', 4), r('b', 'offline', 5)],
      [],
    ],
    [
      '`fail` and other non-verdicts are ignored, they neither count nor cancel',
      input(2, 0),
      [r('a', 'offline', 1), r('b', 'fail', 2), r('c', 'error', 3), r('b', 'offline', 4)],
      [['offline', 4]],
    ],
    [
      'flip and immediate flip back: the way back waits out its own delay (gobearmon skipped it)',
      input(1, 1),
      [r('a', 'offline', 1), r('a', 'offline', 2), r('a', 'online', 3), r('a', 'online', 4)],
      [
        ['offline', 2],
        ['online', 4],
      ],
    ],
    ['starting offline, online results bring it back', input(2, 0, 'offline'), [r('a', 'online', 1), r('b', 'online', 2)], [['online', 2]]],
  ])('%s', (_name, start, events, expected) => {
    expect(run(start, events).transitions).toEqual(expected);
  });

  it('a delay change mid-pending applies from the next completed round', () => {
    const events: CheckEvent[] = [
      r('a', 'offline', 1), // round 1 of 4 (D=3)
      { type: 'CONFIGURE', delay: 1, at: 2 },
      r('a', 'offline', 3), // round 2: 2 > 1 -> flips under the new delay
    ];
    const { transitions, snapshot } = run(input(1, 3), events);
    expect(transitions).toEqual([['offline', 3]]);
    expect(snapshot.context.delay).toBe(1);
    // A longer delay mid-pending postpones the flip.
    const longer = run(input(1, 1), [r('a', 'offline', 1), { type: 'CONFIGURE', delay: 3, at: 2 }, r('a', 'offline', 3), r('a', 'offline', 4)]);
    expect(longer.transitions).toEqual([]);
    expect(longer.snapshot.context.rounds).toBe(3);
  });

  it('states: online -> pending (remembering the way) -> offline', () => {
    const first = run(input(2, 0), [r('a', 'offline', 1)]);
    expect(first.snapshot.value).toBe('pending');
    expect(first.snapshot.context.status).toBe('online');
    expect(first.facts).toEqual([{ type: 'pendingStarted', params: { checkId: 1, status: 'online', suspected: 'offline', worker: 'a', at: 1 } }]);
    const cancelled = run(input(2, 0), [r('b', 'online', 2)], first.snapshot);
    expect(cancelled.snapshot.value).toBe('online');
    expect(cancelled.facts).toEqual([{ type: 'pendingCancelled', params: { checkId: 1, status: 'online', worker: 'b', at: 2, rounds: 0 } }]);
  });

  it('the transition carries its evidence: who said what, when', () => {
    const { facts } = run(input(2, 0), [r('a', 'offline', 10, 'ECONNREFUSED'), r('a', 'offline', 11, 'dup'), r('b', 'offline', 12, 'timed out')]);
    const transition = facts.find((f) => f.type === 'transitioned')!;
    expect(transition.params).toEqual({
      checkId: 1,
      from: 'online',
      to: 'offline',
      at: 12,
      pendingSince: 10,
      rounds: 1,
      delay: 0,
      confirmations: 2,
      evidence: [
        { worker: 'a', status: 'offline', at: 10, message: 'ECONNREFUSED' },
        { worker: 'b', status: 'offline', at: 12, message: 'timed out' },
      ],
    });
  });

  it('a snapshot persisted mid-pending and restored continues exactly as uninterrupted', () => {
    const events = [r('a', 'offline', 1), r('b', 'offline', 2), r('a', 'offline', 3), r('b', 'offline', 4), r('c', 'offline', 5)];
    const whole = run(input(2, 2), events);
    const half = run(input(2, 2), events.slice(0, 3));
    expect(half.snapshot.value).toBe('pending');
    const persisted = JSON.parse(JSON.stringify(checkMachine.getPersistedSnapshot(half.snapshot)));
    const restored = checkMachine.resolveState(persisted);
    const rest = run(input(2, 2), events.slice(3), restored);
    expect([...half.facts, ...rest.facts]).toEqual(whole.facts);
    expect(rest.snapshot.context).toEqual(whole.snapshot.context);
    expect(rest.snapshot.value).toBe(whole.snapshot.value);
  });
});

/** The rule of SPEC §3 written as plainly as possible, to check the machine against. */
function reference(confirmations: number, delay: number, events: { worker: string; status: string; at: number }[]) {
  let status: Status = 'online';
  let turn = new Set<string>();
  let rounds = 0;
  const out: [Status, number][] = [];
  for (const e of events) {
    if (e.status !== 'online' && e.status !== 'offline') continue;
    if (e.status === status) {
      turn = new Set();
      rounds = 0;
      continue;
    }
    turn.add(e.worker);
    if (turn.size >= confirmations) {
      turn = new Set();
      rounds += 1;
      if (rounds > delay) {
        status = e.status;
        rounds = 0;
        out.push([status, e.at]);
      }
    }
  }
  return out;
}

describe('check machine vs. a reference implementation of the rule', () => {
  it('derives the same transitions on random logs', () => {
    const event = fc.record({
      worker: fc.constantFrom('w1', 'w2', 'w3', 'w4'),
      status: fc.constantFrom('online', 'offline', 'offline', 'fail'),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.array(event, { maxLength: 80 }), (c, d, raw) => {
        const events = raw.map((e, i) => ({ ...e, at: i + 1 }));
        const machine = run(input(c, d), events.map((e) => r(e.worker, e.status, e.at))).transitions;
        expect(machine).toEqual(reference(c, d, events));
      }),
      { numRuns: 500 },
    );
  });
});

describe('initialSnapshot', () => {
  it.each(['online', 'offline'] as const)('equals what initialTransition gives (status %s)', (status) => {
    const checkInput = input(3, 2, status);
    const [expected] = initialTransition(checkMachine, checkInput);
    const snapshot = initialSnapshot(checkInput);
    expect(snapshot.value).toBe(expected.value);
    expect(snapshot.context).toEqual(expected.context);
    expect(checkMachine.getPersistedSnapshot(snapshot)).toEqual(checkMachine.getPersistedSnapshot(expected));
    // ...and behaves the same from there.
    const events = [r('a', status === 'online' ? 'offline' : 'online', 1), r('b', 'fail', 2)];
    expect(run(checkInput, events, snapshot).facts).toEqual(run(checkInput, events, expected).facts);
  });
});

describe('check machine: regions (issue 17)', () => {
  const rr = (worker: string, region: string, status: string, at: number): CheckEvent => ({ type: 'RESULT', worker, status, at, region });
  const withRegions = (confirmations: number, delay: number, minRegions: number): CheckInput => ({ ...input(confirmations, delay), minRegions });

  it('two workers of one region do not complete a round that asks for two regions; a third from another region does', () => {
    const sameRegion = [rr('a1', 'eu', 'offline', 1), rr('a2', 'eu', 'offline', 2)];
    expect(run(withRegions(2, 0, 2), sameRegion).transitions).toEqual([]);
    expect(run(withRegions(2, 0, 1), sameRegion).transitions).toEqual([['offline', 2]]);
    const { transitions, facts } = run(withRegions(2, 0, 2), [...sameRegion, rr('b1', 'us', 'offline', 3)]);
    expect(transitions).toEqual([['offline', 3]]);
    expect(facts.find((f) => f.type === 'transitioned')!.params.evidence).toEqual([
      { worker: 'a1', status: 'offline', at: 1, message: '', region: 'eu' },
      { worker: 'a2', status: 'offline', at: 2, message: '', region: 'eu' },
      { worker: 'b1', status: 'offline', at: 3, message: '', region: 'us' },
    ]);
  });

  it('one worker counts for one region only, whatever regions it claims', () => {
    const events = [rr('a1', 'eu', 'offline', 1), rr('a1', 'us', 'offline', 2), rr('a1', 'ap', 'offline', 3)];
    expect(run(withRegions(1, 0, 2), events).transitions).toEqual([]);
  });

  it('results without a region are one region (older workers, hand-written logs)', () => {
    expect(run(withRegions(2, 0, 2), [r('a', 'offline', 1), r('b', 'offline', 2)]).transitions).toEqual([]);
  });

  it('an agreeing result from any region still cancels the suspicion, and a CONFIGURE changes minRegions', () => {
    const { facts, snapshot } = run(withRegions(2, 1, 2), [rr('a1', 'eu', 'offline', 1), rr('b1', 'us', 'online', 2), { type: 'CONFIGURE', minRegions: 3, at: 3 }]);
    expect(facts.map((f) => f.type)).toEqual(['pendingStarted', 'pendingCancelled']);
    expect(snapshot.context.minRegions).toBe(3);
  });
});

describe('check machine: min_regions raised while a change is pending', () => {
  it('the turn\'s regions are rebuilt from its evidence, so the round can complete', () => {
    const rr = (worker: string, region: string, status: string, at: number): CheckEvent => ({ type: 'RESULT', worker, status, at, region });
    const { transitions, snapshot } = run(input(2, 0), [rr('w1', 'eu', 'offline', 1), { type: 'CONFIGURE', minRegions: 2, at: 2 }, rr('w2', 'us', 'offline', 3)]);
    expect(transitions).toEqual([['offline', 3]]);
    expect(snapshot.value).toBe('offline');
    const pendingOnly = run(input(2, 0), [rr('w1', 'eu', 'offline', 1), { type: 'CONFIGURE', minRegions: 2, at: 2 }]);
    expect(pendingOnly.snapshot.context.turnRegions).toEqual(['eu']);
  });
});
