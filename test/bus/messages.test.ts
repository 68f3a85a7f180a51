import { describe, expect, it } from 'vitest';
import { decode, heartbeat, resultMessage } from '../../src/bus/messages.ts';

// Every bus message is untrusted (src/bus/messages.ts): a bad region or site makes the whole
// heartbeat or result malformed, named by its field and value, as any other bad field does.
const AT = '2026-03-01T12:00:00.000Z';
const beat = { type: 'heartbeat', worker: 'w1', capacity: 4, running: 0, startedAt: AT, at: AT };
const result = { type: 'result', checkId: 1, worker: 'w1', assignment: 'a.1', status: 'online', message: 'ok', durationMs: 3, view: 0, at: AT };

describe('region and site in heartbeats and results', () => {
  it.each([
    ['heartbeat', heartbeat, beat],
    ['result', resultMessage, result],
  ] as const)('a %s carries them when named and is valid without them (an older worker)', (_name, schema, message) => {
    expect(decode(schema, JSON.stringify({ ...message, region: 'eu-west', site: 'rack_7' }))).toEqual({ ok: true, value: { ...message, region: 'eu-west', site: 'rack_7' } });
    const plain = decode(schema, JSON.stringify(message));
    expect(plain).toEqual({ ok: true, value: message });
    expect(plain.ok && 'region' in plain.value).toBe(false);
  });

  it.each([
    ['heartbeat', heartbeat, beat, { region: 'EU' }, /^region: expected a region \(value "EU"\)/],
    ['heartbeat', heartbeat, beat, { region: '' }, /^region: expected a region \(value ""\)/],
    ['heartbeat', heartbeat, beat, { site: 'rack 7' }, /^site: expected a region \(value "rack 7"\)/],
    ['heartbeat', heartbeat, beat, { region: 7 }, /^region: .*\(value 7\)/],
    ['result', resultMessage, result, { region: '-west' }, /^region: expected a region \(value "-west"\)/],
    ['result', resultMessage, result, { site: 'x'.repeat(33) }, /^site: expected a region/],
    ['result', resultMessage, result, { site: null }, /^site: .*\(value null\)/],
  ] as const)('a %s with %j is malformed', (_name, schema, message, extra, error) => {
    const decoded = decode(schema, JSON.stringify({ ...message, ...extra }));
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.error).toMatch(error);
  });
});
