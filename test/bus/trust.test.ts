import { describe, expect, it } from 'vitest';
import { subject } from '../../src/bus/subjects.ts';
import { StreamTrust } from '../../src/bus/trust.ts';
import { applyRecord, emptyLogState, type StreamRecord } from '../../src/controller/log-state.ts';
import { asRecords } from '../helpers/log-records.ts';

const view = (n: number, controller: string | null) => ({ subject: subject.view('current'), text: JSON.stringify({ type: 'view', view: n, controller, at: '2026-01-01T00:00:00Z' }) });
const result = (worker: string, checkId: number, extra: object = {}) =>
  JSON.stringify({ type: 'result', checkId, worker, status: 'offline', at: '2026-01-01T00:00:01Z', message: 'refused', assignment: 'a1', ...extra });
const assign = (controller: string, viewNumber: number, worker = 'w1') =>
  JSON.stringify({ type: 'assign', checkId: 1, worker, assignment: 'a1', at: '2026-01-01T00:00:00Z', view: viewNumber, controller });

describe('trust in the result log: who may say what', () => {
  it('takes a result only from its own worker subject, naming that worker and check, answering a run', () => {
    const trust = new StreamTrust({ viewless: false });
    expect(trust.admit(subject.result('w1', 1), result('w1', 1), 1).kind).toBe('line');
    // w1 cannot vote as w2: the payload must name the subject's worker (and check).
    expect(trust.admit(subject.result('w1', 1), result('w2', 1), 2)).toMatchObject({ kind: 'skip', reason: 'result names another worker or check' });
    expect(trust.admit(subject.result('w1', 2), result('w1', 1), 3)).toMatchObject({ kind: 'skip', reason: 'result names another worker or check' });
    // An unsolicited vote (no run) is not counted from the stream.
    expect(trust.admit(subject.result('w1', 1), result('w1', 1, { assignment: undefined }), 4)).toMatchObject({ kind: 'skip', reason: 'result answers no run' });
    // A result line on a controller subject (attack: votes "from" w1..w3 on bearmon.decision) is never a result.
    trust.admit(view(1, 'w1').subject, view(1, 'w1').text, 5);
    expect(trust.admit(subject.decision('w1', 1), result('w2', 1), 6)).toMatchObject({ kind: 'skip', reason: 'type not allowed on this subject' });
    expect([...trust.skipped.values()].reduce((a, b) => a + b)).toBe(4);
  });

  it("carries a stored result's region and site into its ResultLine; one without has none", () => {
    const trust = new StreamTrust({ viewless: false });
    const line = (admission: ReturnType<StreamTrust['admit']>) => (admission.kind === 'line' ? admission.parsed.line : undefined);
    const placed = line(trust.admit(subject.result('w1', 1), result('w1', 1, { region: 'eu-west', site: 'rack7', view: 0, durationMs: 3 }), 1));
    expect(placed).toMatchObject({ type: 'result', worker: 'w1', region: 'eu-west', site: 'rack7' });
    const plain = line(trust.admit(subject.result('w2', 1), result('w2', 1), 2));
    expect(plain).toMatchObject({ type: 'result', worker: 'w2' });
    expect(plain && plain.type === 'result' && [plain.region, plain.site]).toEqual([undefined, undefined]);
    // A region no worker could have sent makes the record unreadable, as it makes the message malformed.
    expect(trust.admit(subject.result('w1', 1), result('w1', 1, { region: 'EU West' }), 3)).toMatchObject({ kind: 'skip', reason: 'unreadable', detail: expect.stringMatching(/^region: expected a region/) });
  });

  it("takes a controller's lines only from the controller the view in force names, stamped with that view", () => {
    const trust = new StreamTrust({ viewless: false });
    // Under a viewserver, before any view record nobody speaks for a controller.
    expect(trust.admit(subject.assign('ctl', 1), assign('ctl', 0), 1)).toMatchObject({ kind: 'skip', reason: 'no view in force' });
    expect(trust.admit(view(3, 'ctl').subject, view(3, 'ctl').text, 2)).toMatchObject({ kind: 'view', changed: true });
    expect(trust.admit(subject.assign('ctl', 1), assign('ctl', 3), 3).kind).toBe('line');
    expect(trust.admit(subject.assign('w1', 1), assign('w1', 3), 4)).toMatchObject({ kind: 'skip', reason: 'not the controller of the view in force' });
    expect(trust.admit(subject.assign('ctl', 1), assign('ctl', 2), 5)).toMatchObject({ kind: 'skip', reason: 'line of another view' });
    expect(trust.admit(subject.assign('ctl', 2), assign('ctl', 3), 6)).toMatchObject({ kind: 'skip', reason: 'line names another check' });
    // A new view: the old controller's lines stop counting.
    trust.admit(view(4, 'w2').subject, view(4, 'w2').text, 7);
    expect(trust.admit(subject.assign('ctl', 1), assign('ctl', 3), 8)).toMatchObject({ kind: 'skip', reason: 'not the controller of the view in force' });
    expect(trust.view()).toEqual({ view: 4, controller: 'w2', seq: 7 });
  });

  it('lets views only grow; a repeat of the view in force is no fault', () => {
    const trust = new StreamTrust({ viewless: false });
    trust.admit(view(5, 'a').subject, view(5, 'a').text, 1);
    expect(trust.admit(view(5, 'a').subject, view(5, 'a').text, 2)).toMatchObject({ kind: 'view', changed: false });
    expect(trust.admit(view(4, 'b').subject, view(4, 'b').text, 3)).toMatchObject({ kind: 'skip', reason: 'older view' });
    expect(trust.admit(view(6, 'b').subject, '{"type":"view","view":"x"}', 4)).toMatchObject({ kind: 'skip', reason: 'bad view record' });
    expect(trust.view()?.view).toBe(5);
  });

  it('without a viewserver (view 0) takes view-0 lines until a view record appears', () => {
    const trust = new StreamTrust({ viewless: true });
    expect(trust.admit(subject.assign('solo', 1), assign('solo', 0), 1).kind).toBe('line');
    expect(trust.admit(subject.assign('solo', 1), assign('solo', 2), 2)).toMatchObject({ kind: 'skip', reason: 'line of another view' });
    trust.admit(view(1, 'other').subject, view(1, 'other').text, 3);
    expect(trust.admit(subject.assign('solo', 1), assign('solo', 0), 4)).toMatchObject({ kind: 'skip', reason: 'not the controller of the view in force' });
  });

  it('skips foreign subjects and unreadable payloads', () => {
    const trust = new StreamTrust({ viewless: true });
    expect(trust.admit('bearmon.decision.1', '{}', 1)).toMatchObject({ kind: 'skip', reason: 'foreign subject' });
    expect(trust.admit('other.thing', '{}', 2)).toMatchObject({ kind: 'skip', reason: 'foreign subject' });
    expect(trust.admit(subject.result('w1', 1), 'not json', 3)).toMatchObject({ kind: 'skip', reason: 'unreadable' });
  });
});

describe('folding a log with forged and skewed records', () => {
  const check = { type: 'check', checkId: 1, interval: 60, delay: 0, status: 'online' };
  const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}Z`;
  const assignTo = (n: number, worker: string, deadline = at(n + 10)) => ({ type: 'assign', checkId: 1, worker, assignment: `a${n}`, at: at(n), deadline });
  const vote = (n: number, worker: string, when = at(n)) => ({ type: 'result', checkId: 1, worker, status: 'offline', at: when, message: 'refused', assignment: `a${n}` });

  function fold(records: StreamRecord[]) {
    const state = emptyLogState(2, { viewless: false });
    const skipped: string[] = [];
    for (const record of records) applyRecord(state, record, (_r, reason) => skipped.push(reason));
    return { state, skipped };
  }

  it("votes forged by w1 in others' names on a decision subject derive nothing (attack 1)", () => {
    const honest = asRecords([check, assignTo(1, 'w1'), assignTo(2, 'w2'), assignTo(3, 'w3')], { controller: 'ctl', view: 2 });
    const forged: StreamRecord[] = ['w1', 'w2', 'w3'].map((worker, i) => ({ subject: subject.decision('w1', 1), text: JSON.stringify(vote(i + 1, worker)), seq: 10 + i }));
    const { state, skipped } = fold([...honest, ...forged]);
    expect(state.owed.size).toBe(0);
    expect(state.fold.contextOf(1)?.status).toBe('online');
    expect(skipped).toEqual(['not the controller of the view in force', 'not the controller of the view in force', 'not the controller of the view in force']);
    // The same votes from their own subjects (the control) do flip it: the test can fail.
    const real = asRecords([check, assignTo(1, 'w1'), assignTo(2, 'w2'), vote(1, 'w1'), vote(2, 'w2')], { controller: 'ctl', view: 2 });
    expect(fold(real).state.fold.contextOf(1)?.status).toBe('offline');
  });

  it('a result dated 2037 is dated into its run window: the transition is no later than the deadline (attack 2)', () => {
    const lines = [check, assignTo(1, 'w1', at(20)), assignTo(2, 'w2', at(21)), vote(1, 'w1'), vote(2, 'w2', '2037-12-31T00:00:00Z')];
    const { state } = fold(asRecords(lines, { controller: 'ctl', view: 1 }));
    const [transition] = [...state.owed.values()];
    expect(transition?.at.toISOString()).toBe('2026-01-01T00:00:21.000Z');
    // A clock behind is dated no earlier than the assignment.
    const behind = fold(asRecords([check, assignTo(5, 'w1'), assignTo(6, 'w2'), vote(5, 'w1', '2020-01-01T00:00:00Z'), vote(6, 'w2', '2020-01-01T00:00:00Z')], { controller: 'ctl', view: 1 }));
    expect([...behind.state.owed.values()][0]?.at.toISOString()).toBe('2026-01-01T00:00:06.000Z');
  });
});
