import { describe, expect, it } from 'vitest';
import { replay, type LogRecord, type ReplayOptions } from '../../src/replay/run.ts';
import { exportLog } from '../../src/replay/export.ts';

const check = (checkId: number, delay = 1, status = 'online', interval = 60) => JSON.stringify({ type: 'check', checkId, interval, delay, status });
const result = (checkId: number, worker: string, status: string, at: string, message = '') =>
  JSON.stringify({ type: 'result', checkId, worker, status, at, message });

async function* records(lines: string[]): AsyncGenerator<LogRecord> {
  let n = 0;
  for (const text of lines) yield { text, where: `line ${++n}` };
}

async function run(lines: string[], options: Partial<ReplayOptions> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const skipped = await replay(records(lines), { mode: 'ndjson', confirmations: 2, ...options }, { out: (t) => out.push(t), err: (t) => err.push(t) });
  const parsed = options.mode && options.mode !== 'ndjson' ? [] : out.map((l) => JSON.parse(l));
  return { out, err, skipped, parsed, transitions: parsed.filter((l) => l.type === 'transition') };
}

// Timeline: at t=0 the target dies; w1..w3 see it every minute; at t=5m it is back.
const OUTAGE = [
  check(1, 1),
  result(1, 'w1', 'offline', '2026-01-01T00:00:00Z', 'ECONNREFUSED'),
  result(1, 'w2', 'offline', '2026-01-01T00:00:01Z', 'ECONNREFUSED'),
  result(1, 'w3', 'offline', '2026-01-01T00:01:00Z', 'ECONNREFUSED'),
  result(1, 'w1', 'offline', '2026-01-01T00:01:01Z', 'ECONNREFUSED'),
  result(1, 'w2', 'online', '2026-01-01T00:05:00Z', 'HTTP 200'),
  result(1, 'w3', 'online', '2026-01-01T00:05:01Z', 'HTTP 200'),
  result(1, 'w1', 'online', '2026-01-01T00:06:00Z', 'HTTP 200'),
  result(1, 'w2', 'online', '2026-01-01T00:06:01Z', 'HTTP 200'),
];

describe('bearmon replay', () => {
  it('timeline: target dies at t=0, offline at 1m01s (C=2, D=1), online again at 6m01s', async () => {
    const { transitions, skipped } = await run(OUTAGE);
    expect(skipped).toBe(0);
    expect(transitions.map((t) => [t.from, t.to, t.at])).toEqual([
      ['online', 'offline', '2026-01-01T00:01:01.000Z'],
      ['offline', 'online', '2026-01-01T00:06:01.000Z'],
    ]);
    expect(transitions[0].evidence.map((e: { worker: string }) => e.worker)).toEqual(['w1', 'w2', 'w3', 'w1']);
  });

  it('prints pending and round lines and a summary per check', async () => {
    const { parsed } = await run(OUTAGE.slice(0, 3));
    expect(parsed.map((l) => l.type)).toEqual(['pending', 'round', 'summary']);
    expect(parsed[1]).toMatchObject({ round: 1, of: 2, workers: ['w1', 'w2'], at: '2026-01-01T00:00:01.000Z' });
  });

  it('policy backtesting: C=3, D=2 would have sent no alert for this outage', async () => {
    const strict = await run(OUTAGE, { confirmations: 3, delay: 2 });
    expect(strict.transitions).toEqual([]);
    const { out } = await run(OUTAGE, { mode: 'summary', confirmations: 1, delay: 0 });
    expect(out[0]).toContain('policy: confirmations 1, delay 0');
    expect(out[0]).toContain('policy: confirmations 1, delay 0, regions as logged, quarantine off');
    // check, transitions, went offline, time offline, partial outages, results, final
    expect(out[0]).toMatch(/\n\s+1\s+2\s+1\s+5m\s+0\s+8\s+online\n/);
  });

  it('--explain tells why a transition fired: workers, times, messages', async () => {
    const { out } = await run(OUTAGE, { mode: 'explain' });
    expect(out[0]).toBe(
      [
        'check 1 went offline at 2026-01-01 00:01:01Z (was online): 2 round(s) of 2 distinct worker(s) disagreed, delay 1, suspected since 2026-01-01 00:00:00Z',
        '  2026-01-01 00:00:00Z  w1               offline  ECONNREFUSED',
        '  2026-01-01 00:00:01Z  w2               offline  ECONNREFUSED',
        '  2026-01-01 00:01:00Z  w3               offline  ECONNREFUSED',
        '  2026-01-01 00:01:01Z  w1               offline  ECONNREFUSED',
        '',
      ].join('\n'),
    );
  });

  it('--explain shows what delivery did about a transition (notify lines of the log), in log order', async () => {
    const notify = (contact: number, attempt: number, outcome: string, at: string, message: string, extra = {}) =>
      JSON.stringify({ type: 'notify', checkId: 1, notification: `1:2026-01-01T00:01:01.000Z:offline/${contact}`, transition: '1:2026-01-01T00:01:01.000Z:offline', contact, contactType: 'webhook', attempt, outcome, message, at, view: 2, controller: 'w1', ...extra });
    const lines = [
      ...OUTAGE.slice(0, 5),
      notify(4, 1, 'retry', '2026-01-01T00:01:02Z', 'webhook 127.0.0.1:9 answered HTTP 500', { nextAttemptAt: '2026-01-01T00:01:32Z' }),
      notify(4, 2, 'delivered', '2026-01-01T00:01:32Z', 'webhook 127.0.0.1:9 answered HTTP 200'),
      JSON.stringify({ type: 'notify', checkId: 2, notification: 'x', contact: 9, contactType: 'email', attempt: 1, outcome: 'delivered', message: 'other check', at: '2026-01-01T00:01:33Z' }),
    ];
    const { out, skipped } = await run(lines, { mode: 'explain', checkId: 1 });
    expect(skipped).toBe(0);
    expect(out.slice(1)).toEqual([
      '  2026-01-01 00:01:02Z  notify check 1 contact 4 (webhook), attempt 1: retry (next attempt 2026-01-01 00:01:32Z) — webhook 127.0.0.1:9 answered HTTP 500',
      '  2026-01-01 00:01:32Z  notify check 1 contact 4 (webhook), attempt 2: delivered — webhook 127.0.0.1:9 answered HTTP 200',
    ]);
    // A maintenance window's hold and its end, and a storm's grouped message, in the words of the log.
    const held = await run(
      [
        ...OUTAGE.slice(0, 5),
        notify(4, 0, 'held', '2026-01-01T00:01:03Z', 'held: maintenance nightly until 2026-01-01T01:00:00.000Z', { nextAttemptAt: '2026-01-01T01:00:00.000Z' }),
        notify(4, 0, 'released', '2026-01-01T01:00:00Z', 'held by maintenance nightly; still offline when it ended: sending'),
        notify(4, 1, 'delivered', '2026-01-01T01:00:31Z', 'webhook 127.0.0.1:9 answered HTTP 200', { carriedBy: 'storm/1:2026-01-01T00:01:01.000Z:offline/4', carried: 20 }),
      ],
      { mode: 'explain', checkId: 1 },
    );
    expect(held.out.slice(1)).toEqual([
      '  2026-01-01 00:01:03Z  notify check 1 contact 4 (webhook): held: maintenance nightly until 2026-01-01T01:00:00.000Z',
      '  2026-01-01 01:00:00Z  notify check 1 contact 4 (webhook): released, held by maintenance nightly; still offline when it ended: sending',
      '  2026-01-01 01:00:31Z  notify check 1 contact 4 (webhook), attempt 1: delivered — webhook 127.0.0.1:9 answered HTTP 200; carried by message storm/1:2026-01-01T00:01:01.000Z:offline/4 (one message for 20 notifications)',
    ]);
    // The default output stays what replay derives: notify lines are not re-derived or echoed.
    expect((await run(lines)).parsed.some((l) => l.type === 'notify')).toBe(false);
    // An export keeps them, so `log export | replay --explain` shows them too.
    const exported: string[] = [];
    await exportLog(records(lines), { confirmations: 2 }, { out: (t) => exported.push(t), err: () => {} });
    expect(exported.filter((l) => JSON.parse(l).type === 'notify')).toHaveLength(3);
  });

  it('--explain names each check beside its id, from its check line (the controller logs the name)', async () => {
    const named = JSON.stringify({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online', name: 'api-health', checkType: 'http' });
    const notify = JSON.stringify({ type: 'notify', checkId: 1, notification: 'n', contact: 4, contactType: 'webhook', attempt: 1, outcome: 'delivered', message: 'HTTP 200', at: '2026-01-01T00:01:02Z' });
    const { out, skipped } = await run([named, ...OUTAGE.slice(1, 5), notify], { mode: 'explain' });
    expect(skipped).toBe(0);
    expect(out[0]!.split('\n')[0]).toBe(
      'check 1 (api-health) went offline at 2026-01-01 00:01:01Z (was online): 2 round(s) of 2 distinct worker(s) disagreed, delay 1, suspected since 2026-01-01 00:00:00Z',
    );
    expect(out[1]).toBe('  2026-01-01 00:01:02Z  notify check 1 (api-health) contact 4 (webhook), attempt 1: delivered — HTTP 200');
    // A name that is not a string costs the name, never the line; a control character in it prints as a space.
    const odd = await run([JSON.stringify({ type: 'check', checkId: 1, name: 7 }), ...OUTAGE.slice(1, 5)], { mode: 'explain' });
    expect({ skipped: odd.skipped, head: odd.out[0]!.split(' went ')[0] }).toEqual({ skipped: 0, head: 'check 1' });
    const newline = await run([JSON.stringify({ type: 'check', checkId: 1, name: 'a\nb' }), ...OUTAGE.slice(1, 5)], { mode: 'explain' });
    expect(newline.out[0]!.split(' went ')[0]).toBe('check 1 (a b)');
  });

  it('--check limits the replay to one check', async () => {
    const lines = [check(2, 0), result(2, 'w1', 'offline', '2026-01-01T00:00:00Z'), result(2, 'w2', 'offline', '2026-01-01T00:00:01Z'), ...OUTAGE];
    expect((await run(lines, { checkId: 2 })).transitions.map((t) => t.checkId)).toEqual([2]);
  });

  it('a check line that reappears changes the delay, not the status', async () => {
    const lines = [check(1, 5), result(1, 'w1', 'offline', '2026-01-01T00:00:00Z'), check(1, 0, 'offline'), result(1, 'w2', 'offline', '2026-01-01T00:00:01Z')];
    const { transitions } = await run(lines);
    expect(transitions.map((t) => [t.from, t.to, t.delay])).toEqual([['online', 'offline', 0]]);
  });

  it('bad input: each bad line is reported with its line number and skipped, the run goes on', async () => {
    const lines = [
      ...OUTAGE.slice(0, 2),
      '{"type":"result",',
      result(7, 'w1', 'offline', '2026-01-01T00:00:00Z'),
      result(1, 'w1', 'offline', 'yesterday'),
      result(1, 'w1', 'down', '2026-01-01T00:00:00Z'),
      JSON.stringify({ type: 'vote', checkId: 1 }),
      JSON.stringify({ type: 'result', checkId: '1', worker: 'w1', status: 'offline', at: '2026-01-01T00:00:00Z' }),
      ...OUTAGE.slice(2),
    ];
    const { err, skipped, transitions } = await run(lines);
    expect(skipped).toBe(6);
    expect(err).toEqual([
      expect.stringMatching(/^line 3: skipped: invalid JSON/),
      'line 4: skipped: checkId: unknown check 7 (no "check" line before this result)',
      expect.stringMatching(/^line 5: skipped: at: expected an RFC 3339 timestamp.*\(value "yesterday"\)$/),
      expect.stringMatching(/^line 6: skipped: status: .*\(value "down"\)$/),
      'line 7: skipped: type: expected "check", "result", "assign" or "expire" (value "vote")',
      expect.stringMatching(/^line 8: skipped: checkId: .*\(value "1"\)$/),
      '6 record(s) skipped',
    ]);
    // The good lines still derive the same transitions.
    expect(transitions.map((t) => t.at)).toEqual(['2026-01-01T00:01:01.000Z', '2026-01-01T00:06:01.000Z']);
  });

  it('derived lines in the input (an export with facts) are not re-applied', async () => {
    const { transitions: first } = await run(OUTAGE);
    const withFacts = [...OUTAGE.slice(0, 5), JSON.stringify(first[0]), ...OUTAGE.slice(5)];
    const { transitions, skipped } = await run(withFacts);
    expect(skipped).toBe(0);
    expect(transitions).toEqual(first);
  });
});

describe('bearmon replay: regions and faulty probes', () => {
  const regional = (checkId: number, worker: string, region: string, status: string, s: number) =>
    JSON.stringify({ type: 'result', checkId, worker, region, status, at: new Date(Date.UTC(2026, 0, 1, 3, 14, s)).toISOString(), message: `${status === 'online' ? 'HTTP 200' : 'ECONNREFUSED'}` });
  // The target refuses eu (two workers there agree), us sees it up: six rounds, 10 s apart.
  const EU_DOWN = [JSON.stringify({ type: 'check', checkId: 7, interval: 10, delay: 0, status: 'online', name: 'shop' })];
  for (let round = 0; round < 6; round++) EU_DOWN.push(regional(7, 'a1', 'eu', 'offline', round * 10 + 1), regional(7, 'a2', 'eu', 'offline', round * 10 + 2), regional(7, 'b1', 'us', 'online', round * 10 + 3));

  it('the same log goes offline as logged and, with --regions 2, only partially down (eu) and no transition', async () => {
    const asLogged = await run(EU_DOWN);
    expect(asLogged.transitions.map((t) => [t.from, t.to])).toEqual([['online', 'offline']]);
    const twoRegions = await run(EU_DOWN, { regions: 2 });
    expect(twoRegions.transitions).toEqual([]);
    expect(twoRegions.parsed.filter((l) => l.type === 'partial')).toEqual([
      { type: 'partial', checkId: 7, phase: 'began', down: ['eu'], up: ['us'], since: expect.any(String), at: expect.any(String) },
    ]);
    expect(twoRegions.parsed.at(-1)).toMatchObject({ type: 'summary', checkId: 7, transitions: 0, partials: 1, status: 'online' });

    const explained = await run(EU_DOWN, { regions: 2, mode: 'explain' });
    expect(explained.out).toEqual([expect.stringMatching(/^check 7 \(shop\) partially down since 2026-01-01 03:14:\d\dZ: offline from eu \(online from us\)$/)]);
    const summary = await run(EU_DOWN, { regions: 2, mode: 'summary' });
    expect(summary.out[0]).toContain('policy: confirmations 2, delay as logged, regions 2, quarantine off');
    expect(summary.out[0]).toMatch(/\n\s+7\s+0\s+0\s+0s\s+1\s+18\s+online\n/);
  });

  it('--explain shows each evidence row\'s region, and a partial outage that ends', async () => {
    const { out } = await run(EU_DOWN, { mode: 'explain' });
    expect(out[0]!.split('\n')[1]).toBe('  2026-01-01 03:14:01Z  a1               eu         offline  ECONNREFUSED');
    const recovered = [...EU_DOWN, regional(7, 'a1', 'eu', 'online', 61), regional(7, 'a2', 'eu', 'online', 62)];
    const ended = await run(recovered, { regions: 2, mode: 'explain' });
    expect(ended.out.at(-1)).toMatch(/^check 7 \(shop\) partial outage \(since 2026-01-01 03:14:\d\dZ, offline from eu\) ended at 2026-01-01 03:15:0\dZ: recovered: online again from eu$/);
  });

  it('--quarantine exclude: the broken probe is flagged, then its votes are rejected; --summary lists it', async () => {
    const probe = { windowMs: 600_000, minSamples: 4, threshold: 0.5, release: 0.2 };
    // w3's own network is broken: it says offline about three healthy checks, w1 and w2 overrule it.
    const lines = [1, 2, 3].map((id) => JSON.stringify({ type: 'check', checkId: id, interval: 10, delay: 0, status: 'online' }));
    for (let round = 0; round < 3; round++)
      for (const id of [1, 2, 3]) {
        const s = round * 10 + id;
        lines.push(regional(id, 'w3', 'eu', 'offline', s), regional(id, 'w1', 'eu', 'online', s), regional(id, 'w2', 'us', 'online', s));
      }
    const { parsed } = await run(lines, { quarantine: 'exclude', probe });
    expect(parsed.filter((l) => l.type === 'probe')).toEqual([expect.objectContaining({ worker: 'w3', verdict: 'flagged', excluded: true, samples: 4, ratio: 1 })]);
    expect(parsed.filter((l) => l.type === 'rejected').map((l) => [l.worker, l.reason])[0]).toEqual(['w3', 'worker is quarantined: its votes do not count']);
    const off = await run(lines, { probe });
    expect(off.parsed.some((l) => l.type === 'probe' || l.type === 'rejected')).toBe(false);

    const { out } = await run(lines, { quarantine: 'exclude', probe, mode: 'explain' });
    expect(out).toEqual([expect.stringMatching(/^worker w3 flagged as a faulty probe at 2026-01-01 03:14:\d\dZ: 100 % of its last 4 verdicts overruled; its votes no longer count \(tipped by a result of check \d\)$/)]);
    const summary = await run(lines, { quarantine: 'exclude', probe, mode: 'summary' });
    expect(summary.out[0]).toContain('regions as logged, quarantine exclude');
    expect(summary.out[0]).toMatch(/\nworkers flagged as faulty probes \(1\):\n  w3 at 2026-01-01 03:14:\d\dZ: 100 % of 4 verdicts overruled, votes excluded$/);
  });
});

describe('bearmon log export', () => {
  async function exported(lines: string[], options: { since?: Date; until?: Date; checkId?: number } = {}) {
    const out: string[] = [];
    await exportLog(records(lines), { confirmations: 2, ...options }, { out: (t) => out.push(t), err: () => {} });
    return out;
  }

  it('round-trips: replaying an export derives the same transitions', async () => {
    const out = await exported(OUTAGE);
    expect(out).toHaveLength(OUTAGE.length);
    expect((await run(out)).transitions).toEqual((await run(OUTAGE)).transitions);
  });

  it('a window starts with each check as it stood then, so the export replays on its own', async () => {
    const since = new Date('2026-01-01T00:02:00Z');
    const out = await exported(OUTAGE, { since });
    expect(JSON.parse(out[0]!)).toEqual({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'offline', at: since.toISOString() });
    const { transitions } = await run(out);
    expect(transitions.map((t) => [t.to, t.at])).toEqual([['online', '2026-01-01T00:06:01.000Z']]);
  });

  it('keeps check names: in the check lines it copies and in those that open a window', async () => {
    const named = JSON.stringify({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online', name: 'api-health' });
    expect(JSON.parse((await exported([named, ...OUTAGE.slice(1)]))[0]!)).toEqual({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'online', name: 'api-health' });
    const since = new Date('2026-01-01T00:02:00Z');
    const windowed = await exported([named, ...OUTAGE.slice(1)], { since });
    expect(JSON.parse(windowed[0]!)).toEqual({ type: 'check', checkId: 1, interval: 60, delay: 1, status: 'offline', at: since.toISOString(), name: 'api-health' });
    // So `log export --since … | replay --explain` names the check.
    expect((await run(windowed, { mode: 'explain' })).out[0]).toMatch(/^check 1 \(api-health\) went online at 2026-01-01 00:06:01Z/);
  });

  it('--until stops at the end of the window', async () => {
    const out = await exported(OUTAGE, { until: new Date('2026-01-01T00:01:00Z') });
    expect(out.map((l) => JSON.parse(l).at ?? null)).toEqual([null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', '2026-01-01T00:01:00.000Z']);
  });
});

describe('replay applies the acceptance rule of the live log', () => {
  const assign = (worker: string, assignment: string, at: string) => JSON.stringify({ type: 'assign', checkId: 1, worker, assignment, at });
  const expire = (worker: string, assignment: string, at: string) => JSON.stringify({ type: 'expire', checkId: 1, worker, assignment, at });
  const res = (worker: string, assignment: string, at: string, status = 'offline') =>
    JSON.stringify({ type: 'result', checkId: 1, worker, status, at, message: '', assignment });

  it('counts a result only from the assigned worker, once, and not after expiry', async () => {
    const lines = [
      check(1, 0),
      assign('w1', 'a1', '2026-01-01T00:00:00Z'),
      res('w2', 'a1', '2026-01-01T00:00:01Z'), // not w2's run
      res('w1', 'a1', '2026-01-01T00:00:02Z'), // counted
      res('w1', 'a1', '2026-01-01T00:00:03Z'), // duplicate
      assign('w2', 'a2', '2026-01-01T00:00:04Z'),
      expire('w2', 'a2', '2026-01-01T00:00:14Z'),
      res('w2', 'a2', '2026-01-01T00:00:15Z'), // late
      assign('w3', 'a3', '2026-01-01T00:00:16Z'),
      res('w3', 'a3', '2026-01-01T00:00:17Z'), // counted: w1 + w3 = a round, delay 0 -> flip
    ];
    const { parsed, transitions, skipped } = await run(lines);
    expect(skipped).toBe(0);
    expect(parsed.filter((l) => l.type === 'rejected').map((l) => [l.worker, l.assignment, l.reason])).toEqual([
      ['w2', 'a1', 'run was assigned to w1'],
      ['w1', 'a1', 'not an outstanding run (late, duplicate or expired)'],
      ['w2', 'a2', 'not an outstanding run (late, duplicate or expired)'],
    ]);
    expect(transitions.map((t) => [t.to, t.at, t.evidence.map((e: { worker: string }) => e.worker)])).toEqual([
      ['offline', '2026-01-01T00:00:17.000Z', ['w1', 'w3']],
    ]);
  });
});
