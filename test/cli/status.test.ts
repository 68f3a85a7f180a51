import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status.ts';
import type { ControllerStatus } from '../../src/controller/status.ts';

const base: ControllerStatus = {
  controller: 'c1',
  view: 2,
  at: '2026-01-01T03:20:00.000Z',
  confirmations: 2,
  quorum: true,
  workers: [],
  backlog: { checks: 0, oldestLateMs: 0 },
  notifications: { pending: 0, sending: 0, held: 0, oldestOpen: null, lastDay: { delivered: 0, failed: 0, unconfirmed: 0 } },
  checks: [],
};
/** The table's rows under a heading, split into cells (columns stand two spaces or more apart). */
const rows = (text: string, heading: RegExp) => {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => heading.test(l)) + 1;
  const end = lines.indexOf('', start);
  return lines.slice(start, end === -1 ? undefined : end).map((l) => l.trim().split(/ {2,}/));
};

describe('bearmon status: regions, partial outages and faulty probes', () => {
  const status: ControllerStatus = {
    ...base,
    quarantine: 'exclude',
    workers: [
      { id: 'a1', capacity: 4, inFlight: 1, lastSeenMs: 300, upMs: 60_000, region: 'eu', site: 'fra1', probe: { samples: 20, contradictions: 1, ratio: 0.05, flagged: false, excluded: false } },
      { id: 'b1', capacity: 4, inFlight: 0, lastSeenMs: 200, upMs: 60_000, region: 'us' },
      { id: 'w3', capacity: 4, inFlight: 0, lastSeenMs: 100, upMs: 60_000, region: 'eu', site: 'ams2', probe: { samples: 20, contradictions: 20, ratio: 1, flagged: true, excluded: true } },
    ],
    checks: [
      { id: 7, name: 'shop', type: 'http', state: 'online', status: 'online', minRegions: 2, partial: { since: '2026-01-01T03:14:05.000Z', down: ['eu'], up: ['us'] }, nextRunInMs: 4000 },
      { id: 8, name: 'blog', type: 'http', state: 'online', status: 'online', minRegions: 1, nextRunInMs: 2000 },
    ],
  };
  const text = formatStatus(status);

  it('a partial outage shows in the check\'s state, with since when and the regions online in the detail', () => {
    expect(rows(text, /^checks \(2\):$/)).toEqual([
      ['ID', 'NAME', 'TYPE', 'STATE', 'NEXT RUN', 'DETAIL'],
      ['7', 'shop', 'http', 'online, partial: offline from eu', 'in 4s', 'partially down since 2026-01-01T03:14:05.000Z (online from us); needs 2 regions'],
      ['8', 'blog', 'http', 'online', 'in 2s', '-'],
    ]);
  });

  it('the workers table names region, site and the probe score, flagged or quarantined; a line tells the quarantine mode', () => {
    expect(rows(text, /^workers \(3 alive\):$/)).toEqual([
      ['WORKER', 'BUSY', 'HEARTBEAT', 'UP', 'REGION', 'SITE', 'PROBE'],
      ['a1', '1/4', '300ms ago', '60s', 'eu', 'fra1', '1/20 overruled (5 %)'],
      ['b1', '0/4', '200ms ago', '60s', 'us', '-', '-'],
      ['w3', '0/4', '100ms ago', '60s', 'eu', 'ams2', '20/20 overruled (100 %), QUARANTINED'],
    ]);
    expect(text).toMatch(/^quarantine: exclude \(a worker overruled too often is flagged and its votes do not count \(audit runs only\); quorum is counted without it\); flagged: w3 \(quarantined\)$/m);
    const flagOnly = formatStatus({ ...status, quarantine: 'flag', workers: [{ ...status.workers[2]!, probe: { ...status.workers[2]!.probe!, excluded: false } }] });
    expect(flagOnly).toMatch(/^quarantine: flag \(a worker overruled too often is flagged; its votes still count\); flagged: w3$/m);
    expect(rows(flagOnly, /^workers \(1 alive\):$/)[1]!.at(-1)).toBe('20/20 overruled (100 %), FLAGGED');
    // A captive proxy: fine over all its verdicts, always overruled on checks that were down.
    const captive = formatStatus({ ...status, quarantine: 'flag', workers: [{ ...status.workers[2]!, probe: { samples: 40, contradictions: 6, ratio: 0.15, down: { samples: 6, contradictions: 6 }, flagged: true, excluded: false } }] });
    expect(rows(captive, /^workers \(1 alive\):$/)[1]!.at(-1)).toBe('6/40 overruled (15 %); 6/6 on down checks, FLAGGED');
  });

  it('a status from a controller without regions or scoring prints as before, without a quarantine line', () => {
    const old = formatStatus({ ...base, workers: [{ id: 'w1', capacity: 2, inFlight: 0, lastSeenMs: 100, upMs: 1000 }], checks: [{ id: 1, name: 'db', type: 'tcp', state: 'online' }] });
    expect(old).not.toMatch(/quarantine|partial/);
    expect(rows(old, /^workers \(1 alive\):$/)[1]).toEqual(['w1', '0/2', '100ms ago', '1s', '-', '-', '-']);
  });
});
