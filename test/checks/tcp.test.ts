import { describe, expect, it } from 'vitest';
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
    await expect.poll(() => remote).toMatch(/127\.0\.0\.3$/);
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
