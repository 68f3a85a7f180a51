import { describe, expect, it } from 'vitest';
import { createContactRegistry, prepareContact, sendNotification } from '../../src/contacts/registry.ts';
import { send as sendSms } from '../../src/contacts/sms.ts';
import { send as sendVoice } from '../../src/contacts/voice.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startTwilioServer, twilioClientFactory, twilioError, type TestTwilioServer } from '../helpers/twilio-server.ts';
import { ACCOUNT_SID, notification, testContext } from './fixtures.ts';

const AUTH_TOKEN = 'twilio-token-7Hq2';
const FROM = '+15550001111';

function contextFor(server: Pick<TestTwilioServer, 'clientFactory'>) {
  return testContext({ twilio: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM } }, { createTwilioClient: server.clientFactory });
}

const invalidNumber = twilioError(400, 21211, "The 'To' number +15005550001 is not a valid phone number.");

describe('sms contact', () => {
  it('sends From, To and the one-line Body with the account credentials, and returns the SID as a charge', async () => {
    const server = await startTwilioServer();
    const { ctx, logs } = contextFor(server);
    const prepared = prepareContact(createContactRegistry(), 'sms', '+15557654321');
    if (!prepared.ok) throw new Error(prepared.message);

    const outcome = await sendNotification(prepared, notification(), ctx);

    expect(server.requests).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
        username: ACCOUNT_SID,
        password: AUTH_TOKEN,
        form: { To: '+15557654321', From: FROM, Body: 'Check [shop <front> & api] is now offline: HTTP 503 in 4 ms' },
      }),
    ]);
    expect(outcome).toEqual({ ok: true, detail: expect.stringMatching(/^SMS to \+15557654321 accepted by Twilio as SM[0-9a-f]{32}$/), charge: { type: 'sms', sid: expect.stringMatching(/^SM[0-9a-f]{32}$/) } });
    expect(logs.matching(/notification delivered/)).toEqual([
      expect.objectContaining({ checkId: 7, contactType: 'sms', charge: outcome.ok ? outcome.charge : undefined }),
    ]);
  });

  it('keeps Twilio\'s message on a 400 (code 21211) and does not retry', async () => {
    const server = await startTwilioServer();
    server.reply = () => invalidNumber;
    const outcome = await sendSms('+15005550001', notification(), contextFor(server).ctx);
    expect(outcome).toEqual({
      ok: false,
      retry: false,
      error: "Twilio error 21211 (HTTP 400): The 'To' number +15005550001 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)",
    });
  });

  it('retries a Twilio 5xx and a Twilio that cannot be reached', async () => {
    const server = await startTwilioServer();
    server.reply = () => ({ status: 503, body: 'upstream unavailable' });
    expect(await sendSms('+15557654321', notification(), contextFor(server).ctx)).toEqual({
      ok: false,
      retry: true,
      error: 'Twilio error (HTTP 503): [HTTP 503] Failed to execute request',
    });

    const unreachable = { clientFactory: twilioClientFactory(`http://127.0.0.1:${await refusedPort()}`) };
    const outcome = await sendSms('+15557654321', notification(), contextFor(unreachable).ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringContaining('ECONNREFUSED') });
  });

  it('gives up when [twilio] is not configured', async () => {
    const server = await startTwilioServer();
    const { ctx } = testContext({ twilio: { accountSid: ACCOUNT_SID } }, { createTwilioClient: server.clientFactory });
    expect(await sendSms('+15557654321', notification(), ctx)).toEqual({
      ok: false,
      retry: false,
      error: 'Twilio is not configured: [twilio] accountSid, authToken and from are required',
    });
    expect(server.requests).toEqual([]);
  });
});

describe('voice contact', () => {
  it('places a call with the spoken message as TwiML and returns the call SID as a charge', async () => {
    const server = await startTwilioServer();
    const outcome = await sendVoice('+15557654321', notification(), contextFor(server).ctx);
    expect(server.requests).toEqual([
      expect.objectContaining({
        path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`,
        username: ACCOUNT_SID,
        password: AUTH_TOKEN,
        form: {
          To: '+15557654321',
          From: FROM,
          Twiml:
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>This is a monitoring call from bearmon. The check . shop &lt;front&gt; &amp; api . is now offline . Reason: HTTP 503 in 4 ms</Say></Response>',
        },
      }),
    ]);
    expect(outcome).toEqual({ ok: true, detail: expect.stringMatching(/^call to \+15557654321 accepted by Twilio as CA[0-9a-f]{32}$/), charge: { type: 'voice', sid: expect.stringMatching(/^CA[0-9a-f]{32}$/) } });
  });

  it('keeps Twilio\'s message on a 400 (code 21211) and does not retry', async () => {
    const server = await startTwilioServer();
    server.reply = () => invalidNumber;
    const outcome = await sendVoice('+15005550001', notification(), contextFor(server).ctx);
    expect(outcome).toMatchObject({ ok: false, retry: false, error: expect.stringContaining("21211 (HTTP 400): The 'To' number +15005550001 is not a valid phone number.") });
  });

  it('retries a Twilio 500', async () => {
    const server = await startTwilioServer();
    server.reply = () => twilioError(500, 20500, 'Internal Server Error');
    const outcome = await sendVoice('+15557654321', notification(), contextFor(server).ctx);
    expect(outcome).toEqual({ ok: false, retry: true, error: expect.stringContaining('Twilio error 20500 (HTTP 500): Internal Server Error') });
  });
});
