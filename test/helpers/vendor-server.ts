import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import type { ContactContext, Notification, SendOutcome } from '../../src/contacts/types.ts';
import type { CapturedLogs } from './logs.ts';

export interface VendorRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
}

export interface VendorAnswer {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
}

export interface VendorServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  host: string;
  requests: VendorRequest[];
  /** What the n-th request (0-based) is answered with; null never answers. */
  answer: (request: VendorRequest, n: number) => VendorAnswer | null;
}

/**
 * A stand-in for a vendor's API on a random loopback port, speaking the request and reply
 * shapes the vendor documents (the test supplies the replies). Closed after the test.
 */
export async function startVendorServer(answer: VendorServer['answer'] = () => ({ status: 200, body: 'ok' })): Promise<VendorServer> {
  const state: VendorServer = { url: '', host: '', requests: [], answer };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request: VendorRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
      const n = state.requests.length;
      state.requests.push(request);
      const reply = state.answer(request, n);
      if (!reply) return;
      const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      const type = typeof reply.body === 'string' || reply.body === undefined ? 'text/plain; charset=utf-8' : 'application/json';
      res.writeHead(reply.status, { 'Content-Type': type, ...reply.headers }).end(reply.status === 204 ? undefined : text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  state.host = `127.0.0.1:${port}`;
  state.url = `http://${state.host}`;
  return state;
}

/** Through the registry, as the delivery stage does: validated, sent, logged. */
export async function sendVia(type: string, data: string, n: Notification, ctx: ContactContext): Promise<SendOutcome> {
  const prepared = prepareContact(createContactRegistry(), type, data);
  if (!prepared.ok) throw new Error(prepared.message);
  return sendNotification(prepared, n, ctx);
}

/** Neither the outcome nor any log line holds any of the secrets. */
export function expectNoSecrets(outcome: SendOutcome, logs: CapturedLogs, secrets: string[]): void {
  const said = JSON.stringify({ outcome, lines: logs.lines });
  for (const secret of secrets) expect(said, `leaked ${secret}`).not.toContain(secret);
}
