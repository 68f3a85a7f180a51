import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact } from '../../src/contacts/registry.ts';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { notification, testContext } from './fixtures.ts';

const HEADER_TOKEN = 'hdr-5ecret-9f8e7d6c5b4a';

describe('json contact', () => {
  it('POSTs the rendered body template with JSON-escaped values, the header templates and an Idempotency-Key', async () => {
    const receiver = await startVendorServer(() => ({ status: 201, body: { accepted: true } }));
    const { ctx, logs } = testContext();
    const data = JSON.stringify({
      url: `${receiver.url}/alerts?team=ops`,
      body: '{"text": "{{check.name}} is {{status}}: {{message}}", "id": {{check.id}}, "workers": [{{#workers}}"{{.}}",{{/workers}} null], "at": "{{at}}"}',
      headers: { 'X-Token': HEADER_TOKEN, 'X-Check': '{{check.id}}-{{status}}' },
    });
    // A name that would break out of a JSON string if it were not escaped.
    const n = notification({ check: { ...notification().check, name: 'web "eu"\\1\n' } });

    const outcome = await sendVia('json', data, n, ctx);

    expect(outcome).toEqual({ ok: true, detail: `json webhook ${receiver.host} answered HTTP 201` });
    const request = receiver.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/alerts?team=ops');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['idempotency-key']).toBe('notif-7-1793705747836-offline');
    expect(request.headers['x-token']).toBe(HEADER_TOKEN);
    expect(request.headers['x-check']).toBe('7-offline');
    expect(request.json).toEqual({ text: 'web "eu"\\1\n is offline: HTTP 503 in 4 ms', id: 7, workers: ['probe-ams1', 'probe-fra2', null], at: '2026-11-03T09:15:47.836Z' });
    expectNoSecrets(outcome, logs, [HEADER_TOKEN]);
  });

  it('sends a header value HTTP cannot carry with those characters replaced, not a request node refuses', async () => {
    const receiver = await startVendorServer(() => ({ status: 200 }));
    const n = notification({ check: { ...notification().check, name: 'Zürich ✓\r\nX-Evil: 1' } });
    const outcome = await sendVia('json', JSON.stringify({ url: receiver.url, headers: { 'X-Check': '{{check.name}}' } }), n, testContext().ctx);
    expect(outcome.ok).toBe(true);
    // Node writes the header's bytes as UTF-8 and the receiving parser reads them as Latin-1.
    expect(Buffer.from(receiver.requests[0]!.headers['x-check'] as string, 'latin1').toString('utf8')).toBe('Zürich ? X-Evil: 1');
    expect(receiver.requests[0]!.headers['x-evil']).toBeUndefined();
  });

  it('sends the notification\'s fields when the data has no body', async () => {
    const receiver = await startVendorServer(() => ({ status: 204 }));
    const outcome = await sendVia('json', JSON.stringify({ url: receiver.url }), notification(), testContext().ctx);
    expect(outcome.ok).toBe(true);
    expect(receiver.requests[0]!.json).toEqual({
      check_id: 7,
      name: 'shop <front> & api',
      type: 'http',
      data: '{"url":"http://127.0.0.1:8080/health","expect_status":200}',
      status: 'offline',
      message: 'HTTP 503 in 4 ms',
      at: '2026-11-03T09:15:47.836Z',
      workers: ['probe-ams1', 'probe-fra2'],
      notification_id: 'notif-7-1793705747836-offline',
      partial: null,
    });
  });

  it('retries a 503 and a 429 with Retry-After', async () => {
    const receiver = await startVendorServer((_r, n) => (n === 0 ? { status: 503, body: { error: 'maintenance' } } : { status: 429, headers: { 'Retry-After': '12' } }));
    const { ctx } = testContext();
    const data = JSON.stringify({ url: receiver.url });
    expect(await sendVia('json', data, notification(), ctx)).toEqual({ ok: false, retry: true, error: `json webhook ${receiver.host} answered HTTP 503: maintenance` });
    expect(await sendVia('json', data, notification(), ctx)).toEqual({ ok: false, retry: true, error: `json webhook ${receiver.host} answered HTTP 429 (retry after 12 s)`, retryAfterMs: 12_000 });
    // The same notification id both times: a receiver honouring Idempotency-Key shows it once.
    expect(receiver.requests.map((r) => r.headers['idempotency-key'])).toEqual(['notif-7-1793705747836-offline', 'notif-7-1793705747836-offline']);
  });

  it('gives up on a 422 with the receiver\'s message, masking header secrets it echoes', async () => {
    const receiver = await startVendorServer((r) => ({ status: 422, body: { message: `token ${r.headers['x-token']} may not post here` } }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('json', JSON.stringify({ url: receiver.url, headers: { 'X-Token': HEADER_TOKEN } }), notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `json webhook ${receiver.host} answered HTTP 422: token *** may not post here` });
    expectNoSecrets(outcome, logs, [HEADER_TOKEN]);
  });

  it('fails permanently, without sending, when a {{{raw}}} value breaks the JSON', async () => {
    const receiver = await startVendorServer();
    const data = JSON.stringify({ url: receiver.url, body: '{"text": "{{{message}}}"}' });
    const outcome = await sendVia('json', data, notification({ message: 'got "quotes"' }), testContext().ctx);
    expect(outcome).toMatchObject({ ok: false, retry: false, error: expect.stringMatching(new RegExp(`^json webhook ${receiver.host}: the body template did not render to JSON`)) });
    expect(receiver.requests).toHaveLength(0);
  });

  it('retries when the receiver cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('json', JSON.stringify({ url: `http://127.0.0.1:${port}/x`, headers: { Authorization: `Bearer ${HEADER_TOKEN}` } }), notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true, error: expect.stringMatching(/ECONNREFUSED/) });
    expectNoSecrets(outcome, logs, [HEADER_TOKEN]);
  });

  it.each([
    [{ url: 'ftp://example.com/' }, 'data.url: unsupported scheme "ftp:", expected http or https (value "ftp://example.com/")'],
    [{ url: 'http://example.com/', body: '{"a": {{status}}}' }, 'data.body: expected a template that renders to JSON (put {{names}} inside "quotes")'],
    [{ url: 'http://example.com/', body: '{"a": "{{#status}}"}' }, 'data.body: expected a Mustache template: Unclosed section "status"'],
    [{ url: 'http://example.com/', headers: { 'Bad Header': 'x' } }, 'data.headers.Bad Header: expected an HTTP header name'],
    [{ url: 'http://example.com/', headers: { Host: 'evil.example' } }, 'data.headers.Host: expected a header bearmon does not set itself'],
    [{ url: 'http://example.com/', headers: { 'X-Token': `${HEADER_TOKEN}\r\nX-Injected: 1` } }, 'data.headers.X-Token: expected a header value without control characters (value "***")'],
    [{ url: 'http://example.com/', method: 'PUT' }, 'data.method: unknown field, expected url, body, headers (value "***")'],
  ])('rejects %j naming field and value', (data, message) => {
    const prepared = prepareContact(createContactRegistry(), 'json', JSON.stringify(data));
    expect(prepared.ok === false && prepared.message).toContain(message);
    expect(JSON.stringify(prepared)).not.toContain(HEADER_TOKEN);
  });
});
