import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run, schema, USER_AGENT } from '../../src/checks/http.ts';
import { selfSignedCertificate } from '../../src/demo/certificate.ts';
import { check } from '../helpers/check.ts';
import { closeServer, refusedPort, tcpServer } from '../helpers/servers.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A real HTTP(S) server on a random loopback port, closed after the test. */
async function httpServer(handler: Handler, options: { tls?: boolean; host?: string } = {}) {
  const sockets = new Set<net.Socket>();
  const server = options.tls ? https.createServer(certificate(), handler) : http.createServer(handler);
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {});
  const host = options.host ?? '127.0.0.1';
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  onTestFinished(() => closeServer(server, sockets));
  return { server, port, url: `${options.tls ? 'https' : 'http'}://${host}:${port}` };
}

let cert: { key: string; cert: string } | undefined;
function certificate() {
  const day = 86_400_000;
  cert ??= selfSignedCertificate({ notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day) });
  return cert;
}

/** Reads a request body (small, test-controlled). */
async function bodyOf(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Streams `total` bytes of filler (or forever), honouring backpressure; counts what was accepted. */
function streamFiller(res: http.ServerResponse, total: number, prefix = '', counter = { written: 0 }) {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write(prefix);
  const pump = () => {
    while (counter.written < total && !res.destroyed) {
      counter.written += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
  return counter;
}

const answer = (status: number, body = 'ok'): Handler => (_req, res) => res.writeHead(status).end(body);

describe('http check', () => {
  it('is online on a 200, saying the status', async () => {
    const { url } = await httpServer(answer(200));
    const result = await check('http', { url });
    expect(result.status).toBe('online');
    expect(result.message).toMatch(/^HTTP 200 in \d+ ms$/);
  });

  it('is offline when the status differs from expect_status', async () => {
    const { url } = await httpServer(answer(500));
    const result = await check('http', { url, expect_status: 200 });
    expect(result).toMatchObject({ status: 'offline', message: 'status mismatch, got 500 but expected 200' });
  });

  it('accepts any status when expect_status is 0 or absent', async () => {
    const { url } = await httpServer(answer(500));
    expect((await check('http', { url, expect_status: 0 })).status).toBe('online');
    expect((await check('http', { url })).message).toMatch(/^HTTP 500/);
  });

  it('is offline when expect_substring is missing from the body', async () => {
    const { url } = await httpServer(answer(200, 'all systems nominal'));
    const result = await check('http', { url, expect_substring: 'healthy' });
    expect(result).toMatchObject({
      status: 'offline',
      message: 'expected substring [healthy] was not found in the response body',
    });
  });

  it('is online when expect_substring is present, even split across chunks', async () => {
    const { url } = await httpServer((_req, res) => {
      res.writeHead(200);
      res.write('status: hea');
      setImmediate(() => res.end('lthy\n'));
    });
    const result = await check('http', { url, expect_substring: 'healthy' });
    expect(result.status).toBe('online');
  });

  it('honours the timeout when the server accepts but never answers', async () => {
    const { address } = await tcpServer(() => {});
    const result = await check('http', { url: `http://${address}/`, timeout: 3 });
    expect(result).toMatchObject({ status: 'offline', message: 'timed out after 3s' });
    expect(result.durationMs).toBeGreaterThanOrEqual(2900);
  });

  it('clamps a short timeout up to 3s and covers a body that trickles forever', async () => {
    const { url } = await httpServer((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('.'), 100);
      res.on('close', () => clearInterval(timer));
    });
    const result = await check('http', { url, timeout: 1, expect_substring: 'done' });
    expect(result).toMatchObject({ status: 'offline', message: 'timed out after 3s' });
    expect(result.durationMs).toBeGreaterThanOrEqual(2900);
  });

  it('stops and closes its socket when its signal is aborted', async () => {
    const controller = new AbortController();
    let closed: Promise<unknown> | undefined;
    const { address } = await tcpServer((socket) => {
      closed = once(socket, 'close');
      controller.abort();
    });
    const params = schema.parse({ url: `http://${address}/`, timeout: 30 });
    const outcome = await run(params, { signal: controller.signal, now: Date.now, dnsServer: '127.0.0.1:53' });
    expect(outcome).toEqual({ status: 'offline', message: 'timed out after 30s' });
    await closed;
  });

  it('is offline on a refused port, naming the error code', async () => {
    const port = await refusedPort();
    const result = await check('http', { url: `http://127.0.0.1:${port}/` });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/^HTTP request failed: .*ECONNREFUSED/);
  });

  it('is offline when the body breaks off before the substring', async () => {
    const { url } = await httpServer((req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('partial');
      setImmediate(() => req.socket.destroy());
    });
    const result = await check('http', { url, expect_substring: 'never' });
    expect(result.status).toBe('offline');
    expect(result.message).toMatch(/^error reading HTTP response body/);
  });

  it('sends basic auth when username is set', async () => {
    const { url } = await httpServer((req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from('monitor:s3cr:et').toString('base64')}`;
      res.writeHead(ok ? 200 : 401).end();
    });
    expect((await check('http', { url, username: 'monitor', password: 's3cr:et', expect_status: 200 })).status).toBe(
      'online',
    );
    expect((await check('http', { url, expect_status: 200 })).message).toBe('status mismatch, got 401 but expected 200');
  });

  it('lets a Host header (any case) override the host sent', async () => {
    const hosts: (string | undefined)[] = [];
    const { url } = await httpServer((req, res) => {
      hosts.push(req.headers.host);
      res.end();
    });
    await check('http', { url, headers: { host: 'status.example.org' } });
    await check('http', { url, headers: { Host: 'other.example.org:8080' } });
    expect(hosts).toEqual(['status.example.org', 'other.example.org:8080']);
  });

  it('POSTs the body, defaulting the method to POST when a body is set', async () => {
    const seen: string[] = [];
    const { url } = await httpServer(async (req, res) => {
      seen.push(`${req.method} ${req.headers['content-length']} ${await bodyOf(req)}`);
      res.end();
    });
    await check('http', { url, body: '{"ping":true}' });
    await check('http', { url, method: 'put', body: 'x' });
    await check('http', { url });
    expect(seen).toEqual(['POST 13 {"ping":true}', 'PUT 1 x', 'GET undefined ']);
  });

  it('sends custom headers and identifies itself as bearmon', async () => {
    let headers: http.IncomingHttpHeaders = {};
    const { url } = await httpServer((req, res) => {
      headers = req.headers;
      res.end();
    });
    await check('http', { url, headers: { 'X-Probe': 'eu-1', accept: 'text/plain' } });
    expect(headers).toMatchObject({ 'x-probe': 'eu-1', accept: 'text/plain', 'user-agent': USER_AGENT });
    expect(USER_AGENT).toMatch(/^bearmon\//);
  });

  it('uses a new connection per run, asking the server to close it', async () => {
    const connections: string[] = [];
    const connectionHeaders: (string | undefined)[] = [];
    const { server, url } = await httpServer((req, res) => {
      connectionHeaders.push(req.headers.connection);
      res.end();
    });
    server.on('connection', (socket: net.Socket) => connections.push(`${socket.remotePort}`));
    await check('http', { url });
    await check('http', { url });
    expect(connectionHeaders).toEqual(['close', 'close']);
    expect(new Set(connections).size).toBe(2);
  });

  it('binds to the configured source address', async () => {
    let remote: string | undefined;
    const { url } = await httpServer((req, res) => {
      remote = req.socket.remoteAddress;
      res.end();
    });
    const result = await check('http', { url }, { sourceAddress: '127.0.0.2' });
    expect(result.status).toBe('online');
    expect(remote).toMatch(/127\.0\.0\.2$/);
  });

  describe('redirects', () => {
    /** /r/N redirects to /r/N-1 with `status`; /r/0 answers 200 "arrived". */
    async function chain(status = 302) {
      const seen: string[] = [];
      const server = await httpServer(async (req, res) => {
        seen.push(`${req.method} ${req.url} ${await bodyOf(req)}`.trim());
        const n = Number(req.url!.split('/')[2]);
        if (n > 0) res.writeHead(status, { location: `/r/${n - 1}` }).end();
        else res.end('arrived');
      });
      return { ...server, seen };
    }

    it('follows up to 9 redirects (10 requests), like Go', async () => {
      const { url, seen } = await chain();
      const result = await check('http', { url: `${url}/r/9`, expect_substring: 'arrived' });
      expect(result.status).toBe('online');
      expect(seen).toHaveLength(10);
    });

    it('stops after 10 redirects', async () => {
      const { url } = await chain();
      const result = await check('http', { url: `${url}/r/10` });
      expect(result).toMatchObject({ status: 'offline', message: 'stopped after 10 redirects' });
    });

    it('turns POST into GET without body on 303, keeps both on 307', async () => {
      const see = await chain(303);
      await check('http', { url: `${see.url}/r/1`, body: 'payload' });
      expect(see.seen).toEqual(['POST /r/1 payload', 'GET /r/0']);
      const temp = await chain(307);
      await check('http', { url: `${temp.url}/r/1`, body: 'payload' });
      expect(temp.seen).toEqual(['POST /r/1 payload', 'POST /r/0 payload']);
    });

    it('drops credentials when redirected to another host', async () => {
      const auth: (string | undefined)[] = [];
      const other = await httpServer((req, res) => {
        auth.push(req.headers.authorization);
        res.end();
      }, { host: '127.0.0.2' });
      const first = await httpServer((req, res) => {
        auth.push(req.headers.authorization);
        res.writeHead(302, { location: `${other.url}/` }).end();
      });
      const result = await check('http', { url: first.url, username: 'u', password: 'p' });
      expect(result.status).toBe('online');
      expect(auth).toEqual([`Basic ${Buffer.from('u:p').toString('base64')}`, undefined]);
    });

    it('refuses a redirect to a non-HTTP scheme', async () => {
      const { url } = await httpServer((_req, res) => res.writeHead(301, { location: 'ftp://127.0.0.1/' }).end());
      const result = await check('http', { url });
      expect(result).toMatchObject({ status: 'offline', message: 'redirect to unsupported protocol "ftp:"' });
    });
  });

  describe('https', () => {
    it('is offline on a self-signed certificate', async () => {
      const { url } = await httpServer(answer(200), { tls: true });
      const result = await check('http', { url });
      expect(result.status).toBe('offline');
      expect(result.message).toMatch(/^HTTP request failed: .*self-signed certificate/i);
    });

    it('is online with insecure: true', async () => {
      const { url } = await httpServer(answer(200, 'secure hello'), { tls: true });
      const result = await check('http', { url, insecure: true, expect_substring: 'hello' });
      expect(result.status).toBe('online');
    });
  });

  describe('huge bodies', () => {
    it('gives up on a 200 MiB body having taken only a bounded part of it (the exact bound: next test)', async () => {
      let counter = { written: 0 };
      let closed: Promise<unknown> = Promise.resolve();
      const { url } = await httpServer((_req, res) => {
        closed = once(res, 'close');
        counter = streamFiller(res, 200 * 1024 * 1024);
      });
      const heapBefore = process.memoryUsage().heapUsed;
      const result = await check('http', { url, expect_substring: 'needle' });
      expect(result).toMatchObject({
        status: 'offline',
        message: 'expected substring [needle] was not found in the first 1 MiB of the response body',
      });
      await closed;
      // The server could only push what fits in socket buffers before the client hung up.
      expect(counter.written).toBeLessThan(32 * 1024 * 1024);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
    });

    it('searches exactly the first 1 MiB: a needle ending at its last byte is found, one byte later is not', async () => {
      const MiB = 1024 * 1024;
      const needle = 'needle-7f3a';
      // Filler, the needle starting at `offset`, then 64 KiB more: the body goes on past the needle.
      const bodyWithNeedleAt = (offset: number) => Buffer.concat([Buffer.alloc(offset, 'a'), Buffer.from(needle), Buffer.alloc(64 * 1024, 'a')]);
      const serve = async (body: Buffer) => (await httpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body))).url;

      const lastInside = await check('http', { url: await serve(bodyWithNeedleAt(MiB - needle.length)), expect_substring: needle });
      expect(lastInside).toMatchObject({ status: 'online' });
      const straddling = await check('http', { url: await serve(bodyWithNeedleAt(MiB - needle.length + 1)), expect_substring: needle });
      expect(straddling).toMatchObject({ status: 'offline', message: `expected substring [${needle}] was not found in the first 1 MiB of the response body` });
    });

    it('finds a substring in the first chunk of an endless body', async () => {
      const { url } = await httpServer((_req, res) => void streamFiller(res, Infinity, 'HEALTHY '));
      const result = await check('http', { url, expect_substring: 'HEALTHY' });
      expect(result.status).toBe('online');
    });

    it('does not read the body at all without expect_substring', async () => {
      let closed: Promise<unknown> = Promise.resolve();
      const { url } = await httpServer((_req, res) => {
        closed = once(res, 'close');
        streamFiller(res, Infinity);
      });
      const result = await check('http', { url });
      expect(result.status).toBe('online');
      await closed; // the client hung up: the endless stream stopped
    });
  });

  describe('bad input is misconfigured, naming the field', () => {
    const url = 'http://127.0.0.1:1/';
    it.each([
      ['missing url', {}, /^url: .*expected string/],
      ['ftp url', { url: 'ftp://x' }, /^url: unsupported protocol "ftp:".*value "ftp:\/\/x"/],
      ['url not a string', { url: 42 }, /^url: .*value 42/],
      ['malformed url', { url: 'http://' }, /^url: expected an absolute http:\/\/ or https:\/\/ URL \(value "http:\/\/"\)/],
      ['method not a token', { url, method: 'GE T' }, /^method: methods must be HTTP tokens \(value "GE T"\)/],
      ['headers not an object', { url, headers: ['X-A: 1'] }, /^headers: .*expected record/],
      ['header name not a token', { url, headers: { 'X A': '1' } }, /^headers\.X A: header names must be HTTP tokens/],
      ['header value with CRLF', { url, headers: { 'X-A': 'a\r\nInjected: 1' } }, /^headers\.X-A: .*CR, LF/],
      ['header value not a string', { url, headers: { 'X-A': 1 } }, /^headers\.X-A: .*value 1/],
      ['timeout as string', { url, timeout: '10' }, /^timeout: .*value "10"/],
      ['expect_status as string', { url, expect_status: '200' }, /^expect_status: .*value "200"/],
      ['expect_status out of range', { url, expect_status: 99999 }, /^expect_status: .*value 99999/],
      ['insecure as string', { url, insecure: 'yes' }, /^insecure: .*value "yes"/],
    ])('%s', async (_name, data, message) => {
      const result = await check('http', data);
      expect(result.status).toBe('misconfigured');
      expect(result.message).toMatch(message);
    });
  });
});
