import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { DEADLINE_MARGIN_MS, prepareCheck, runCheck, runPrepared } from '../../src/checks/run.ts';
import { defineCheck, type CheckResult } from '../../src/checks/types.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { check } from '../helpers/check.ts';
import { dnsServer } from '../helpers/dns-server.ts';
import { tcpServer } from '../helpers/servers.ts';

/**
 * README promises about single check runs (## Checks): every run ends by its deadline, a
 * check that ignores it is cut off one second later; the TCP first line is read up to
 * 64 KiB; a DNS query is sent again over UDP after 2 s.
 *
 * Time is the runner's: its timers (and Date) are faked, the sockets stay real. Each test
 * advances the fake clock to one millisecond before the promised moment and then to it,
 * so a runner or check that waited longer, or gave up sooner, fails here.
 */

const registry = createCheckRegistry();
const T0 = Date.parse('2026-05-01T00:00:00.000Z');

function fakeClock() {
  // Only what the runner and the checks schedule with: sockets, setImmediate and nextTick stay real.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
}
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/**
 * Waits on real time for `ready` (sockets move in real time). Not expect.poll: with fake
 * timers installed it advances them on every retry, which would move the clock under test.
 */
const realSetTimeout = globalThis.setTimeout;
async function until(ready: () => boolean, message: string, timeoutMs = timeoutFor()): Promise<void> {
  const started = performance.now();
  while (!ready()) {
    if (performance.now() - started > timeoutMs) throw new Error(`${message} (waited ${timeoutMs} ms)`);
    await new Promise((resolve) => realSetTimeout(resolve, 10));
  }
}

/** A run whose result is observable without awaiting it. */
function observe(run: Promise<CheckResult>) {
  const state: { result?: CheckResult } = {};
  void run.then((r) => (state.result = r));
  return state;
}

describe('README: every run ends within its deadline, a check that ignores it one second later', () => {
  it('the runner aborts the check at its deadline and, if it does not stop, answers offline exactly DEADLINE_MARGIN_MS (1 s) later', async () => {
    fakeClock();
    let abortedAt: number | undefined;
    const deaf = defineCheck({
      type: 'deaf',
      schema: z.object({}),
      deadlineMs: () => 3000,
      // Notes the abort but never stops: only the runner's guard can end this run.
      run: (_params, ctx) => {
        ctx.signal.addEventListener('abort', () => (abortedAt = Date.now()));
        return new Promise(() => {});
      },
    });
    const run = observe(runPrepared(deaf, {}, { now: Date.now, dnsServer: '127.0.0.1:53' }));

    await vi.advanceTimersByTimeAsync(2999);
    expect(abortedAt).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(abortedAt).toBe(T0 + 3000);
    expect(DEADLINE_MARGIN_MS).toBe(1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(run.result, 'the guard answered before deadline + 1 s').toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(run.result).toEqual({ status: 'offline', message: 'timed out after 3s', durationMs: 4000 });
  });

  it('the deadlines the README names: http/tcp `timeout` (0 = 10, clamped 3..30), dns 6 s, icmp 12 s, ssl_expire 15 s', () => {
    const deadline = (type: string, data: object) => {
      const prepared = prepareCheck(registry, type, JSON.stringify(data));
      if (!prepared.ok) throw new Error(prepared.message);
      return prepared.check.deadlineMs(prepared.params);
    };
    for (const type of ['http', 'tcp']) {
      const base = type === 'http' ? { url: 'http://127.0.0.1/' } : { address: '127.0.0.1:1' };
      expect([0, 1, 3, 17, 30, 45].map((timeout) => deadline(type, { ...base, timeout }))).toEqual([10_000, 3000, 3000, 17_000, 30_000, 30_000]);
      expect(deadline(type, base)).toBe(10_000);
    }
    expect(deadline('dns', { name: 'example.com', type: 'a' })).toBe(6000);
    expect(deadline('icmp', { target: '127.0.0.1' })).toBe(12_000);
    expect(deadline('ssl_expire', { address: '127.0.0.1:1' })).toBe(15_000);
  });

  // Each real check against a target that never answers stops itself when its deadline
  // passes (its own message, at the deadline): the runner's 1 s guard is never needed.
  it.each([
    // timeout 30: the socket's own idle timer (real time) stays far away while the fake clock runs.
    ['http', (address: string) => ({ url: `http://${address}/`, timeout: 30 }), 30_000, 'timed out after 30s'],
    ['tcp', (address: string) => ({ address, expect: 'hello', timeout: 30 }), 30_000, 'timed out after 30s'],
    ['ssl_expire', (address: string) => ({ address }), 15_000, 'timed out before the TLS handshake completed'],
  ])('%s against a silent target ends at its deadline (%#)', async (type, data, deadlineMs, message) => {
    let connections = 0;
    const { address } = await tcpServer(() => connections++);
    fakeClock();
    const run = observe(runCheck(registry, type, JSON.stringify(data(address)), { now: Date.now, dnsServer: '127.0.0.1:53' }));
    await until(() => connections === 1, 'the check never connected');

    await vi.advanceTimersByTimeAsync(deadlineMs - 1);
    expect(run.result, 'the run ended before its deadline').toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    // The check closes its socket on the abort; that takes real (not fake) time.
    await until(() => run.result !== undefined, 'the check did not stop at its deadline');
    expect(run.result).toEqual({ status: 'offline', message, durationMs: deadlineMs });
  });

  it('dns against a silent server ends after its 5 s budget, inside its 6 s deadline', async () => {
    const server = await dnsServer({}, { drop: true });
    fakeClock();
    const run = observe(check('dns', { server: server.address, name: 'example.com', type: 'a' }, { now: Date.now }));
    await until(() => server.queries.udp === 1, 'no query reached the server');
    await vi.advanceTimersByTimeAsync(4999);
    expect(run.result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await until(() => run.result !== undefined, 'the dns check did not stop after 5 s');
    expect(run.result).toEqual({ status: 'offline', message: 'query failed: timed out after 5s', durationMs: 5000 });
  });
});

/** Whether a socket is the test DNS server's own (bound to its port). */
function isServerSocket(socket: dgram.Socket, port: number): boolean {
  try {
    return socket.address().port === port;
  } catch {
    return false; // not bound yet: the check's, about to send its first query
  }
}

describe('README: a DNS query is retried once over UDP after 2 s', () => {
  it('sends the query at 0 s and again at exactly 2 s, then nothing more until the 5 s budget ends', async () => {
    const server = await dnsServer({}, { drop: true });
    // When the check hands a datagram to its socket, by the fake clock.
    const sentAt: number[] = [];
    const send = dgram.Socket.prototype.send;
    vi.spyOn(dgram.Socket.prototype, 'send').mockImplementation(function (this: dgram.Socket, ...args: unknown[]) {
      // The check's datagrams, not the test server's replies.
      if (!isServerSocket(this, server.port)) sentAt.push(Date.now() - T0);
      return (send as (...a: unknown[]) => void).apply(this, args);
    });
    fakeClock();
    const run = observe(check('dns', { server: server.address, name: 'example.com', type: 'a' }, { now: Date.now }));
    await until(() => server.queries.udp === 1, 'no query reached the server');
    expect(sentAt).toEqual([0]);

    await vi.advanceTimersByTimeAsync(1999);
    expect(sentAt).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sentAt).toEqual([0, 2000]);
    // The retransmission reaches the server (the same question, the same id).
    await until(() => server.queries.udp === 2, 'the retransmission did not reach the server');
    expect(server.received[1]!.id).toBe(server.received[0]!.id);

    await vi.advanceTimersByTimeAsync(2999);
    expect(sentAt).toEqual([0, 2000]);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => run.result !== undefined, 'the dns check did not stop after 5 s');
    expect(run.result).toMatchObject({ status: 'offline', message: 'query failed: timed out after 5s' });
    expect(sentAt).toEqual([0, 2000]);
    expect(server.queries).toEqual({ udp: 2, tcp: 0 });
  });

  it('an answer to the first query ends the exchange: no retransmission', async () => {
    const server = await dnsServer({ 'example.com': [{ type: 'A', ttl: 60, data: '127.0.0.1' }] });
    const sentAt: number[] = [];
    const send = dgram.Socket.prototype.send;
    vi.spyOn(dgram.Socket.prototype, 'send').mockImplementation(function (this: dgram.Socket, ...args: unknown[]) {
      // The check's datagrams, not the test server's replies.
      if (!isServerSocket(this, server.port)) sentAt.push(Date.now() - T0);
      return (send as (...a: unknown[]) => void).apply(this, args);
    });
    fakeClock();
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'a' }, { now: Date.now });
    expect(result.status).toBe('online');
    // The retry timer was cleared with the answer: even 10 s later nothing is sent again.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sentAt).toEqual([0]);
    expect(server.queries.udp).toBe(1);
  });
});

describe('README: tcp `expect` reads the first newline-terminated line, at most 64 KiB of it', () => {
  const KIB64 = 64 * 1024;

  it('finds expect in the last bytes of a 64 KiB line that goes on without a newline', async () => {
    // "MATCH" ends exactly at byte 65,536; the line then continues (never a newline).
    const { address } = await tcpServer((socket) => {
      socket.write('x'.repeat(KIB64 - 5));
      socket.write('MATCH');
      socket.write('y'.repeat(KIB64));
    });
    const result = await check('tcp', { address, expect: 'MATCH', timeout: 30 });
    expect(result).toMatchObject({ status: 'online', message: 'response matched "MATCH"' });
  });

  it('does not look past 64 KiB: expect right after the cap is a mismatch, decided without waiting for a newline', async () => {
    let sent = 0;
    const { address } = await tcpServer((socket) => {
      const chunk = 'x'.repeat(8192);
      // Endless output without a newline, "MATCH" from byte 65,536 on: the check must stop reading.
      socket.write('x'.repeat(KIB64));
      sent = KIB64;
      const more = () => {
        while (!socket.destroyed && socket.write(`MATCH${chunk}`)) sent += chunk.length + 5;
        if (!socket.destroyed) socket.once('drain', more);
      };
      more();
    });
    const result = await check('tcp', { address, expect: 'MATCH', timeout: 30 });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/^response mismatch, expected \[MATCH\] but got \[x{200}…\]$/);
    // Decided on the first 64 KiB, not after the 30 s timeout.
    expect(result.durationMs).toBeLessThan(30_000);
    expect(sent).toBeGreaterThanOrEqual(KIB64);
  });

  it('a line shorter than the cap is matched as a whole, up to its newline', async () => {
    const { address } = await tcpServer((socket) => socket.write(`${'x'.repeat(KIB64 - 100)}MATCH\nMATCH on the second line\n`));
    const result = await check('tcp', { address, expect: 'MATCH', timeout: 30 });
    expect(result.status).toBe('online');
    const { address: other } = await tcpServer((socket) => socket.write(`${'x'.repeat(KIB64 - 100)}\nMATCH on the second line\n`));
    expect((await check('tcp', { address: other, expect: 'MATCH', timeout: 30 })).status).toBe('offline');
  });
});
