import { describe, expect, it } from 'vitest';
import { timeoutFor } from '../helpers/bounds.ts';
import { check } from '../helpers/check.ts';
import { refusedPort, tcpServer } from '../helpers/servers.ts';

describe('tcp check', () => {
  it('is online when a connect succeeds (no expect)', async () => {
    const { address } = await tcpServer(() => {});
    const result = await check('tcp', { address });
    expect(result.status).toBe('online');
    expect(result.message).toContain('connected');
  });

  it('is offline on a refused port', async () => {
    const port = await refusedPort();
    const result = await check('tcp', { address: `127.0.0.1:${port}` });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/ECONNREFUSED/);
  });

  it('sends payload + newline and matches the first line against expect', async () => {
    const received: string[] = [];
    const { address } = await tcpServer((socket) => {
      socket.once('data', (data) => {
        received.push(data.toString());
        socket.write('+PONG ready\r\nsecond line PONG\n');
      });
    });
    const result = await check('tcp', { address, payload: 'PING', expect: 'PONG' });
    expect(result.status).toBe('online');
    expect(received).toEqual(['PING\n']);
  });

  it('is offline when the first line does not contain expect', async () => {
    const { address } = await tcpServer((socket) => socket.write('220 smtp ready\nexpected-later\n'));
    const result = await check('tcp', { address, expect: 'expected-later' });
    expect(result.status).toBe('offline');
    expect(result.message).toBe('response mismatch, expected [expected-later] but got [220 smtp ready]');
  });

  it('is offline when the server closes without a line', async () => {
    const { address } = await tcpServer((socket) => socket.end('no newline'));
    const result = await check('tcp', { address, expect: 'x' });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/closed before/);
  });

  it('honours the timeout when the server never answers', async () => {
    const { address } = await tcpServer(() => {});
    const result = await check('tcp', { address, expect: 'hello', timeout: 1 });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/within 3s|timed out after 3s/);
    expect(result.durationMs).toBeGreaterThanOrEqual(2900);
  });

  it('connects over IPv6 loopback with force_ip 6', async () => {
    const { address } = await tcpServer(() => {}, '::1');
    const result = await check('tcp', { address, force_ip: 6 });
    expect(result.status).toBe('online');
  });

  it('binds to the configured source address', async () => {
    let remote: string | undefined;
    const { address } = await tcpServer((socket) => {
      remote = socket.remoteAddress;
    });
    const result = await check('tcp', { address }, { sourceAddress: '127.0.0.3' });
    expect(result.status).toBe('online');
    // The check is online only once connected: the server's side of it is at most a loopback event away.
    await expect.poll(() => remote, { timeout: timeoutFor() }).toMatch(/127\.0\.0\.3$/);
  });

  describe('bad input is misconfigured, naming the field', () => {
    it.each([
      ['missing address', {}, /^address: /],
      ['address without port', { address: '127.0.0.1' }, /^address: expected host:port, missing :port/],
      ['port out of range', { address: '127.0.0.1:70000' }, /^address: .*invalid port "70000"/],
      ['shell in host', { address: '$(id):80' }, /^address: .*invalid host "\$\(id\)"/],
      ['timeout as string', { address: '127.0.0.1:1', timeout: 'ten' }, /^timeout: .*value "ten"/],
      ['force_ip 5', { address: '127.0.0.1:1', force_ip: 5 }, /^force_ip: .*value 5/],
      ['expect not a string', { address: '127.0.0.1:1', expect: 42 }, /^expect: .*value 42/],
    ])('%s', async (_name, data, message) => {
      const result = await check('tcp', data);
      expect(result.status).toBe('misconfigured');
      expect(result.message).toMatch(message);
    });
  });
});

describe('runner', () => {
  it('a run cancelled by the caller (shutdown) is a worker error, never offline', async () => {
    let connections = 0;
    const { address } = await tcpServer(() => connections++);
    const before = await check('tcp', { address, expect: 'never' }, { signal: AbortSignal.abort() });
    expect(before).toMatchObject({ status: 'error', message: 'run cancelled' });
    expect(connections).toBe(0);
    const cancel = new AbortController();
    const during = check('tcp', { address, expect: 'never' }, { signal: cancel.signal });
    await expect.poll(() => connections, { timeout: timeoutFor() }).toBe(1);
    cancel.abort();
    expect(await during).toMatchObject({ status: 'error', message: 'run cancelled' });
  });

  it('reports a crash inside a check as a worker error, never as offline', async () => {
    const { createCheckRegistry } = await import('../../src/checks/registry.ts');
    const { runCheck } = await import('../../src/checks/run.ts');
    const { z } = await import('zod');
    const registry = createCheckRegistry([
      { type: 'boom', schema: z.object({}), deadlineMs: () => 1000, run: async () => { throw new Error('kaput'); } },
    ]);
    const result = await runCheck(registry, 'boom', '{}', { now: Date.now, dnsServer: '127.0.0.1:53' });
    expect(result).toMatchObject({ status: 'error', message: 'check boom failed internally: kaput' });
  });

  it('the registry refuses duplicate type names at start-up', async () => {
    const { createCheckRegistry, builtinCheckTypes } = await import('../../src/checks/registry.ts');
    expect(() => createCheckRegistry([...builtinCheckTypes, builtinCheckTypes[0]!])).toThrow(/duplicate check type "tcp"/);
  });
});
