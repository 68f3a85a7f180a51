import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { send } from '../../src/contacts/http.ts';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { refusedPort } from '../helpers/servers.ts';
import { notification, testContext } from './fixtures.ts';

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  form: Record<string, string>;
}

/** A webhook receiver on a random loopback port; `answer` picks the status, or null to never answer. */
async function startReceiver(answer: (request: Received) => { status: number; headers?: Record<string, string> } | null = () => ({ status: 200 })) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      };
      received.push(request);
      const reply = answer(request);
      if (reply) res.writeHead(reply.status, reply.headers).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const hook = (url: string) => new URL(url);

describe('http/webhook contact', () => {
  it.each(['http', 'webhook'])('type %s POSTs gobearmon\'s form fields with the notification id as Idempotency-Key', async (type) => {
    const receiver = await startReceiver(() => ({ status: 204 }));
    const { ctx, logs } = testContext();
    const prepared = prepareContact(createContactRegistry(), type, `${receiver.url}/hooks/bearmon?team=ops`);
    if (!prepared.ok) throw new Error(prepared.message);

    const outcome = await sendNotification(prepared, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `webhook ${new URL(receiver.url).host} answered HTTP 204` });
    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hooks/bearmon?team=ops');
    expect(request.headers['idempotency-key']).toBe('notif-7-1793705747836-offline');
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.form).toEqual({
      check_id: '7',
      name: 'shop <front> & api',
      type: 'http',
      data: '{"url":"http://127.0.0.1:8080/health","expect_status":200}',
      status: 'offline',
      message: 'HTTP 503 in 4 ms',
    });
    expect(logs.matching(/notification delivered/)).toEqual([expect.objectContaining({ checkId: 7, contactType: type })]);
  });

  it('retries a 500', async () => {
    const receiver = await startReceiver(() => ({ status: 500 }));
    const { ctx } = testContext();
    const outcome = await send(hook(receiver.url), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: `webhook ${new URL(receiver.url).host} answered HTTP 500` });
  });

  it('gives up on a 404', async () => {
    const receiver = await startReceiver(() => ({ status: 404 }));
    const { ctx } = testContext();
    const outcome = await send(hook(receiver.url), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `webhook ${new URL(receiver.url).host} answered HTTP 404` });
    expect(receiver.received).toHaveLength(1);
  });

  it('retries a 429 (the receiver asks to come back later)', async () => {
    const receiver = await startReceiver(() => ({ status: 429 }));
    const outcome = await send(hook(receiver.url), notification(), testContext().ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true });
  });

  it('does not follow a redirect and names only the scheme and host of its target', async () => {
    const receiver = await startReceiver(() => ({ status: 301, headers: { Location: 'https://hooks.example.com/secret-token/abc' } }));
    const outcome = await send(hook(receiver.url), notification(), testContext().ctx);
    expect(outcome).toEqual({
      ok: false,
      retry: false,
      error: `webhook ${new URL(receiver.url).host} answered HTTP 301 (redirect to https://hooks.example.com not followed: configure the final URL)`,
    });
    expect(receiver.received).toHaveLength(1);
  });

  it('retries when the receiver does not answer in time', async () => {
    const receiver = await startReceiver(() => null);
    const { ctx } = testContext({}, { httpTimeoutMs: 200 });
    const outcome = await send(hook(receiver.url), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: `webhook ${new URL(receiver.url).host} failed: no response within 200 ms` });
    expect(receiver.received).toHaveLength(1);
  });

  it('retries when the receiver is down', async () => {
    const port = await refusedPort();
    const outcome = await send(hook(`http://127.0.0.1:${port}/hook`), notification(), testContext().ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringMatching(/^webhook 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });
  });

  it('sends user info as Basic auth but never repeats the URL\'s path, query or credentials', async () => {
    const receiver = await startReceiver(() => ({ status: 500 }));
    const url = receiver.url.replace('http://', 'http://hookuser:hookpass@') + '/T000/B000/XXXXsecret?token=abc';
    const { ctx, logs } = testContext();
    const prepared = prepareContact(createContactRegistry(), 'webhook', url);
    if (!prepared.ok) throw new Error(prepared.message);
    const outcome = await sendNotification(prepared, notification(), ctx);
    expect(receiver.received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hookuser:hookpass').toString('base64')}`);
    const said = JSON.stringify([outcome, logs.lines]);
    for (const secret of ['hookpass', 'XXXXsecret', 'token=abc']) expect(said).not.toContain(secret);
  });
});
