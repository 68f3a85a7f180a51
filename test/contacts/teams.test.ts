import { describe, expect, it } from 'vitest';
import { refusedPort } from '../helpers/servers.ts';
import { expectNoSecrets, sendVia, startVendorServer } from '../helpers/vendor-server.ts';
import { escapeTeamsText } from '../../src/contacts/teams.ts';
import { notification, testContext } from './fixtures.ts';

/** A Workflows trigger URL: the `sig` query parameter is the secret. */
const SIG = 'Zm9vYmFyYmF6cXV4c2lnbmF0dXJlMTIzNDU2Nzg5MA';
const PATH = `/workflows/3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SIG}`;

describe('teams contact', () => {
  it('POSTs a message with one Adaptive Card and is delivered on 202 Accepted', async () => {
    const teams = await startVendorServer(() => ({ status: 202 }));
    const { ctx, logs } = testContext();

    const outcome = await sendVia('teams', teams.url + PATH, notification(), ctx);

    expect(outcome).toEqual({ ok: true, detail: `teams webhook ${teams.host} answered HTTP 202` });
    const request = teams.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(PATH);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.json).toEqual({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: String.raw`Check \[shop \<front\> & api\] is now offline: HTTP 503 in 4 ms`, weight: 'Bolder', wrap: true, color: 'Attention' },
              {
                type: 'FactSet',
                facts: [
                  { title: 'Time', value: String.raw`2026\-11\-03T09:15:47\.836Z` },
                  { title: 'Confirmed by', value: String.raw`probe\-ams1, probe\-fra2` },
                  { title: 'Notification', value: String.raw`notif\-7\-1793705747836\-offline` },
                ],
              },
            ],
          },
        },
      ],
    });
    expectNoSecrets(outcome, logs, [SIG]);
  });

  it('escapes Markdown in the check name, the message and the worker ids, so none renders as a link, bold text, mention or list', async () => {
    const teams = await startVendorServer(() => ({ status: 202 }));
    const n = notification({
      check: { id: 7, name: '[click](http://evil.example)', type: 'http', data: '{}' },
      message: 'HTTP 500: **bold** _it_ <at>user</at> C:\\temp\\x ~~gone~~ `code` # h ![img](x) a|b\n1. reset your password\n- at [login](https://evil.example/login)',
      workers: ['1. first', '- second', '+ third', '# fourth', '> fifth', 'probe\nams1'],
    });

    await sendVia('teams', teams.url + PATH, n, testContext().ctx);

    const card = (teams.requests[0]!.json as { attachments: [{ content: { body: [{ text: string }, { facts: { title: string; value: string }[] }] } }] }).attachments[0].content;
    expect(card.body[0].text).toBe(
      String.raw`Check \[\[click\]\(http://evil\.example\)\] is now offline: HTTP 500: \*\*bold\*\* \_it\_ \<at\>user\</at\> C:\\temp\\x \~\~gone\~\~ \`code\` \# h \!\[img\]\(x\) a\|b 1\. reset your password \- at \[login\]\(https://evil\.example/login\)`,
    );
    expect(card.body[1].facts[1]).toEqual({ title: 'Confirmed by', value: String.raw`1\. first, \- second, \+ third, \# fourth, \> fifth, probe ams1` });
  });

  it('leaves ordinary names, messages and worker ids without Markdown characters as they are', async () => {
    const teams = await startVendorServer(() => ({ status: 202 }));
    const n = notification({ check: { id: 7, name: 'shop api', type: 'http', data: '{}' }, message: 'connection refused: 10 s, 3 tries; "no route" @ eu/west?', workers: ['ams1', 'fra2'] });

    await sendVia('teams', teams.url + PATH, n, testContext().ctx);

    const card = (teams.requests[0]!.json as { attachments: [{ content: { body: [{ text: string }, { facts: { title: string; value: string }[] }] } }] }).attachments[0].content;
    expect(card.body[0].text).toBe(String.raw`Check \[shop api\] is now offline: connection refused: 10 s, 3 tries; "no route" @ eu/west?`);
    expect(card.body[1].facts[1]).toEqual({ title: 'Confirmed by', value: 'ams1, fra2' });
  });

  it('escapeTeamsText backslash-escapes exactly \\ * _ [ ] ( ) ` # + - . ! | < > ~ and turns line breaks into spaces', () => {
    expect(escapeTeamsText('\\*_[]()`#+-.!|<>~')).toBe(String.raw`\\\*\_\[\]\(\)\`\#\+\-\.\!\|\<\>\~`);
    expect(escapeTeamsText('1. one\r\n2) two\n\n- three')).toBe(String.raw`1\. one 2\) two \- three`);
    expect(escapeTeamsText('plain text, with: punctuation; & "quotes" @ 42 % = ? / ok')).toBe('plain text, with: punctuation; & "quotes" @ 42 % = ? / ok');
    expect(escapeTeamsText('')).toBe('');
  });

  it('is delivered on a legacy connector\'s 200 "1"', async () => {
    const teams = await startVendorServer(() => ({ status: 200, body: '1' }));
    expect(await sendVia('teams', `${teams.url}/webhookb2/abc@def/IncomingWebhook/0123456789abcdef/ghi`, notification(), testContext().ctx)).toEqual({
      ok: true,
      detail: `teams webhook ${teams.host} answered HTTP 200`,
    });
  });

  it('retries a legacy connector\'s throttling, which comes inside a 200', async () => {
    const teams = await startVendorServer(() => ({ status: 200, body: 'Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef' }));
    const outcome = await sendVia('teams', teams.url + PATH, notification(), testContext().ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true, error: expect.stringMatching(new RegExp(`^teams webhook ${teams.host} answered HTTP 429: Webhook message delivery failed`)) });
  });

  it('retries a 503 and a 429 with Retry-After', async () => {
    const teams = await startVendorServer((_r, n) =>
      n === 0 ? { status: 503, body: { error: { code: 'ServiceUnavailable', message: 'The service is unavailable.' } } } : { status: 429, headers: { 'Retry-After': '7' }, body: '' },
    );
    const { ctx } = testContext();
    expect(await sendVia('teams', teams.url + PATH, notification(), ctx)).toEqual({
      ok: false,
      retry: true,
      error: `teams webhook ${teams.host} answered HTTP 503: The service is unavailable.`,
    });
    expect(await sendVia('teams', teams.url + PATH, notification(), ctx)).toEqual({ ok: false, retry: true, error: `teams webhook ${teams.host} answered HTTP 429 (retry after 7 s)`, retryAfterMs: 7_000 });
  });

  it('gives up on a 401 with the workflow\'s error message, masking an echoed signature', async () => {
    const teams = await startVendorServer(() => ({
      status: 401,
      body: { error: { code: 'DirectApiAuthorizationRequired', message: `The request must be authenticated; signature '${SIG}' is invalid.` } },
    }));
    const { ctx, logs } = testContext();
    const outcome = await sendVia('teams', teams.url + PATH, notification(), ctx);
    expect(outcome).toEqual({ ok: false, retry: false, error: `teams webhook ${teams.host} answered HTTP 401: The request must be authenticated; signature '***' is invalid.` });
    expectNoSecrets(outcome, logs, [SIG]);
  });

  it('retries when Teams cannot be reached', async () => {
    const port = await refusedPort();
    const { ctx, logs } = testContext();
    const outcome = await sendVia('teams', `http://127.0.0.1:${port}${PATH}`, notification(), ctx);
    expect(outcome).toMatchObject({ ok: false, retry: true });
    expectNoSecrets(outcome, logs, [SIG]);
  });
});
