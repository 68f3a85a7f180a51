import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import forge from 'node-forge';
import { describe, expect, it, onTestFinished } from 'vitest';
import { judgeExpiry, sslExpireCheck } from '../../src/checks/ssl_expire.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { check } from '../helpers/check.ts';
import { closeServer, refusedPort, tcpServer } from '../helpers/servers.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

// One key pair for every certificate (native keygen: fast); certificates differ only in CN and dates.
const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
});

/** A self-signed certificate for `cn` valid until `notAfter` (second precision, as X.509 stores it). */
function certificate(cn: string, notAfter: number): { key: string; cert: string } {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(notAfter - 365 * DAY);
  cert.validity.notAfter = new Date(notAfter);
  const name = [{ name: 'commonName', value: cn }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKey), forge.md.sha256.create());
  return { key: keys.privateKey, cert: forge.pki.certificateToPem(cert) };
}

interface TlsServer {
  address: string;
  port: number;
  /** SNI names clients sent (a client sending none adds nothing). */
  servernames: string[];
  remoteAddresses: (string | undefined)[];
}

/** A real TLS server on a random loopback port presenting `pem`; closed after the test. */
async function tlsServer(pem: { key: string; cert: string }, host = '127.0.0.1'): Promise<TlsServer> {
  const servernames: string[] = [];
  const remoteAddresses: (string | undefined)[] = [];
  const sockets = new Set<net.Socket>();
  // Recorded at connection / ClientHello time: the check hangs up right after its side of
  // the handshake, so the server's own 'secureConnection' may never fire.
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
    servernames.push(servername);
    cb(null, tls.createSecureContext(pem));
  };
  const server = tls.createServer({ ...pem, SNICallback }, (socket) => socket.end());
  server.on('connection', (socket: net.Socket) => {
    remoteAddresses.push(socket.remoteAddress);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  onTestFinished(() => closeServer(server, sockets));
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { address, port, servernames, remoteAddresses };
}

/** notAfter `days` whole days (plus an hour, so rounding to seconds can't cross a day) from now. */
const inDays = (days: number) => Date.now() + days * DAY + HOUR;

describe('ssl_expire check', () => {
  it('is offline when the certificate expires in fewer days than `days`', async () => {
    const { address } = await tlsServer(certificate('soon.test', inDays(5)));
    const result = await check('ssl_expire', { address, days: 10 });
    expect(result).toMatchObject({ status: 'offline', message: 'certificate (soon.test) expires in 5 days' });
  });

  it('is online when the certificate expires in more days than `days`', async () => {
    const { address } = await tlsServer(certificate('later.test', inDays(40)));
    const result = await check('ssl_expire', { address, days: 30 });
    expect(result).toMatchObject({ status: 'online', message: 'certificate (later.test) expires in 40 days' });
  });

  it('is offline when exactly `days` days remain (remaining <= days, as gobearmon)', async () => {
    const { address } = await tlsServer(certificate('edge.test', inDays(7)));
    const result = await check('ssl_expire', { address, days: 7 });
    expect(result).toMatchObject({ status: 'offline', message: 'certificate (edge.test) expires in 7 days' });
  });

  it('is online with the default days 0 while the certificate is valid', async () => {
    const { address } = await tlsServer(certificate('default.test', inDays(2)));
    const result = await check('ssl_expire', { address });
    expect(result).toMatchObject({ status: 'online', message: 'certificate (default.test) expires in 2 days' });
  });

  it('is offline when the certificate has already expired', async () => {
    const { address } = await tlsServer(certificate('old.test', Date.now() - 3 * DAY - HOUR));
    const result = await check('ssl_expire', { address });
    expect(result).toMatchObject({ status: 'offline', message: 'certificate (old.test) expired 3 days ago' });
  });

  it('takes the time from the injected clock, not the system clock', async () => {
    const notAfter = Math.floor(inDays(40) / 1000) * 1000;
    const { address } = await tlsServer(certificate('clock.test', notAfter));
    const at = (now: number) => check('ssl_expire', { address, days: 2 }, { now: () => now });
    expect(await check('ssl_expire', { address, days: 2 })).toMatchObject({ status: 'online' });
    expect(await at(notAfter - DAY)).toMatchObject({
      status: 'offline',
      message: 'certificate (clock.test) expires in 1 day',
    });
    expect(await at(notAfter - 3 * DAY)).toMatchObject({ status: 'online', message: 'certificate (clock.test) expires in 3 days' });
    expect(await at(notAfter - 3 * DAY + 1)).toMatchObject({ status: 'offline', message: 'certificate (clock.test) expires in 2 days' });
    expect(await at(notAfter + 10 * DAY)).toMatchObject({ status: 'offline', message: 'certificate (clock.test) expired 10 days ago' });
  });

  it('does not verify the chain: a self-signed certificate for another name is fine', async () => {
    const { address } = await tlsServer(certificate('unrelated.example', inDays(100)));
    const result = await check('ssl_expire', { address, days: 30 });
    expect(result.status).toBe('online');
  });

  it('sends SNI for a host name and none for an IP literal', async () => {
    const { address: loopback } = await lookup('localhost');
    const server = await tlsServer(certificate('localhost', inDays(50)), loopback);
    expect(await check('ssl_expire', { address: `localhost:${server.port}` })).toMatchObject({ status: 'online' });
    expect(await check('ssl_expire', { address: server.address })).toMatchObject({ status: 'online' });
    expect(server.servernames).toEqual(['localhost']);
    expect(server.remoteAddresses).toHaveLength(2);
  });

  it('works over IPv6 loopback', async () => {
    const { address } = await tlsServer(certificate('v6.test', inDays(20)), '::1');
    const result = await check('ssl_expire', { address, days: 5 });
    expect(result).toMatchObject({ status: 'online', message: 'certificate (v6.test) expires in 20 days' });
  });

  it('binds to the configured source address', async () => {
    const server = await tlsServer(certificate('bind.test', inDays(20)));
    const result = await check('ssl_expire', { address: server.address }, { sourceAddress: '127.0.0.3' });
    expect(result.status).toBe('online');
    expect(server.remoteAddresses).toEqual([expect.stringMatching(/127\.0\.0\.3$/)]);
  });

  it('is offline when the port speaks plain TCP, not TLS', async () => {
    const { address } = await tcpServer((socket) => socket.write('220 plain text service ready\r\n'));
    const result = await check('ssl_expire', { address });
    expect(result.status).toBe('offline');
    expect(result.message).toBe('TLS handshake failed: ERR_SSL_WRONG_VERSION_NUMBER wrong version number');
  });

  it('is offline when the server closes during the handshake', async () => {
    const { address } = await tcpServer((socket) => socket.destroy());
    const result = await check('ssl_expire', { address });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/^TLS handshake failed: ECONNRESET .*disconnected before secure TLS connection/);
  });

  it('is offline on a refused port', async () => {
    const port = await refusedPort();
    const result = await check('ssl_expire', { address: `127.0.0.1:${port}` });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/^connection failed: ECONNREFUSED/);
  });

  it('gives up and closes the socket when aborted while the server never speaks', async () => {
    const closed: Promise<void>[] = [];
    const { address } = await tcpServer((socket) => {
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.resume(); // read (and ignore) the ClientHello so the client's FIN is seen
    });
    // The check's own signal is aborted at its deadline (15 s in production; 300 ms here).
    const params = sslExpireCheck.schema.parse({ address });
    const outcome = await sslExpireCheck.run(params, { signal: AbortSignal.timeout(300), now: Date.now, dnsServer: '127.0.0.1:53' });
    expect(outcome).toEqual({ status: 'offline', message: 'timed out before the TLS handshake completed' });
    // The server is in this process: when its event loop was stalled past the 300 ms, the abort
    // (a timer) runs before the accept (I/O) of the connection the kernel already completed.
    await expect.poll(() => closed.length, { timeout: timeoutFor() }).toBe(1);
    await closed[0]; // the check released its connection
  });

  it('bounds connect + handshake by 15 s (gobearmon dial timeout)', () => {
    expect(sslExpireCheck.deadlineMs(sslExpireCheck.schema.parse({ address: '127.0.0.1:443' }))).toBe(15_000);
  });

  describe('bad input is misconfigured, naming the field', () => {
    it.each([
      ['missing address', {}, /^address: /],
      ['address without port', { address: '127.0.0.1' }, /^address: expected host:port, missing :port/],
      ['shell in host', { address: '$(id):443' }, /^address: .*invalid host "\$\(id\)"/],
      ['days as string', { address: '127.0.0.1:443', days: '30' }, /^days: .*value "30"/],
      ['negative days', { address: '127.0.0.1:443', days: -1 }, /^days: .*value -1/],
      ['fractional days', { address: '127.0.0.1:443', days: 1.5 }, /^days: .*value 1\.5/],
    ])('%s', async (_name, data, message) => {
      const result = await check('ssl_expire', data);
      expect(result.status).toBe('misconfigured');
      expect(result.message).toMatch(message);
    });
  });
});

describe('ssl_expire expiry rule', () => {
  const now = Date.UTC(2030, 0, 1);
  it.each([
    [now + 10 * DAY, 9, 'online', 'expires in 10 days'],
    [now + 10 * DAY, 10, 'offline', 'expires in 10 days'],
    [now + 10 * DAY - 1, 9, 'offline', 'expires in 9 days'],
    [now + DAY, 0, 'online', 'expires in 1 day'],
    [now + HOUR, 0, 'offline', 'expires in 0 days'],
    [now, 0, 'offline', 'expired today'],
    [now - HOUR, 0, 'offline', 'expired today'],
    [now - DAY, 0, 'offline', 'expired 1 day ago'],
    [now - 3 * DAY - HOUR, 0, 'offline', 'expired 3 days ago'],
  ])('notAfter %d, days %d => %s (%s)', (notAfter, days, status, message) => {
    expect(judgeExpiry(notAfter, now, days, 'cn')).toEqual({ status, message: `certificate (cn) ${message}` });
  });
});
