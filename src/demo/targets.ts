import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { selfSignedCertificate } from './certificate.ts';

/** The name the demo DNS server answers (the .test TLD is reserved: it never leaves the machine). */
export const DEMO_NAME = 'www.bearmon-demo.test';

/** A demo target: where it listens, and how to stop it. */
export interface DemoTarget {
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface FlapSchedule {
  upMs: number;
  downMs: number;
}

/** Whether a flapping target is up at time `now`, given when it started: a pure function of time. */
export function isUp(schedule: FlapSchedule, startedAt: number, now: number): boolean {
  return (now - startedAt) % (schedule.upMs + schedule.downMs) < schedule.upMs;
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

/** The demo's webhook contact: a form POST, answered 200 and handed to the demo's printer. */
function receiveWebhook(req: http.IncomingMessage, res: http.ServerResponse, onWebhook?: (fields: Record<string, string>, key: string) => void): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    // A demo receiver: anything larger than a notification is not one.
    body = (body + chunk).slice(0, 16_384);
  });
  req.on('end', () => {
    res.writeHead(200).end();
    onWebhook?.(Object.fromEntries(new URLSearchParams(body)), String(req.headers['idempotency-key'] ?? ''));
  });
}

/**
 * HTTP target: `/` always answers 200 "ok"; `/flapping` answers 200 while the schedule
 * says up and 503 while it says down, so the demo shows a check go offline and back;
 * POST `/webhook` is the demo's webhook contact.
 */
export async function startHttpTarget(
  schedule: FlapSchedule,
  now: () => number,
  host = '127.0.0.1',
  onWebhook?: (fields: Record<string, string>, idempotencyKey: string) => void,
): Promise<DemoTarget> {
  const startedAt = now();
  const server = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/webhook') return void receiveWebhook(req, res, onWebhook);
    const up = req.url !== '/flapping' || isUp(schedule, startedAt, now());
    res.writeHead(up ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(up ? 'bearmon demo target: ok\n' : 'bearmon demo target: down for maintenance\n');
  });
  const close = closer(server, new Set());
  const port = await listen(server, host);
  return { address: `${host}:${port}`, port, close };
}

/** TCP target speaking one line: answers "PONG" to "PING". */
export async function startTcpTarget(host = '127.0.0.1'): Promise<DemoTarget> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (data) => socket.end(data.toString().startsWith('PING') ? 'PONG\n' : 'ERR unknown command\n'));
  });
  const close = closer(server, new Set());
  const port = await listen(server, host);
  return { address: `${host}:${port}`, port, close };
}

/** TLS target whose certificate expires `validDays` from now. */
export async function startTlsTarget(validDays: number, now: () => number, host = '127.0.0.1'): Promise<DemoTarget> {
  const day = 86_400_000;
  const { key, cert } = selfSignedCertificate({
    commonName: 'bearmon-demo',
    notBefore: new Date(now() - day),
    notAfter: new Date(now() + validDays * day),
  });
  const server = tls.createServer({ key, cert }, (socket) => {
    socket.on('error', () => {});
    socket.end('hello\n');
  });
  server.on('tlsClientError', () => {});
  const close = closer(server, new Set());
  const port = await listen(server, host);
  return { address: `${host}:${port}`, port, close };
}
