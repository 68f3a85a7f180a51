import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

export interface ApiRequestSeen {
  method: string;
  /** Path and query as sent. */
  path: string;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (JSON requests) or as a form (form requests). */
  body: unknown;
}

export interface ApiAnswer {
  status: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export interface ApiReceiver {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  requests: ApiRequestSeen[];
  /** The answer to each request; null never answers (a hung vendor). */
  answer: (request: ApiRequestSeen, n: number) => ApiAnswer | null;
}

/**
 * A stand-in for a vendor's API on a random loopback port: records every request (method,
 * path, headers, parsed body) and answers what the test says, closed after the test.
 */
export async function startApiReceiver(answer: ApiReceiver['answer'] = () => ({ status: 200, json: {} })): Promise<ApiReceiver> {
  const state: ApiReceiver = { url: '', requests: [], answer };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const type = req.headers['content-type'] ?? '';
      let body: unknown = text;
      if (type.startsWith('application/json')) body = JSON.parse(text);
      else if (type.startsWith('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(text));
      const request: ApiRequestSeen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, text, body };
      const n = state.requests.length;
      state.requests.push(request);
      const reply = state.answer(request, n);
      if (!reply) return;
      const payload = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
      const headers = { ...(reply.json !== undefined ? { 'Content-Type': 'application/json' } : {}), ...reply.headers };
      res.writeHead(reply.status, headers).end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
