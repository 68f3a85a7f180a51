import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

export interface ReceivedPost {
  path: string;
  headers: http.IncomingHttpHeaders;
  fields: Record<string, string>;
  /** The HTTP status this receiver answered it with (set when the answer is sent). */
  status?: number;
}

export interface WebhookReceiver {
  url: string;
  posts: ReceivedPost[];
  /** Status for the n-th POST (0-based); 200 unless the test says otherwise. */
  reply: (n: number, post: ReceivedPost) => number;
}

/** A real HTTP receiver of form POSTs on a random loopback port, closed after the test. */
export async function startWebhookReceiver(reply: WebhookReceiver['reply'] = () => 200): Promise<WebhookReceiver> {
  const state: WebhookReceiver = { url: '', posts: [], reply };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const post: ReceivedPost = { path: req.url ?? '/', headers: req.headers, fields: Object.fromEntries(new URLSearchParams(body)) };
      const n = state.posts.length;
      state.posts.push(post);
      post.status = state.reply(n, post);
      res.writeHead(post.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return state;
}
