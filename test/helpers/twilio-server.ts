import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import type RequestClientBase from 'twilio/lib/base/RequestClient.js';
import { onTestFinished } from 'vitest';
import type { TwilioClientFactory } from '../../src/contacts/types.ts';

export interface TwilioRequest {
  method: string;
  /** e.g. /2010-04-01/Accounts/AC…/Messages.json */
  path: string;
  /** From the Basic Authorization header. */
  username: string;
  password: string;
  authorization: string;
  form: Record<string, string>;
}

export interface TwilioReply {
  status: number;
  body: unknown;
}

export interface TestTwilioServer {
  /** http://127.0.0.1:port */
  base: string;
  requests: TwilioRequest[];
  /** Decides the reply; default: 201 with a fresh SID, as Twilio does. */
  reply: (request: TwilioRequest) => TwilioReply;
  /** The real SDK, with its requests rewritten to this server. */
  clientFactory: TwilioClientFactory;
}

export const newSid = (prefix: 'SM' | 'CA') => prefix + randomBytes(16).toString('hex');

/** Twilio's success shape for Messages.json and Calls.json: enough for the SDK. */
export function created(request: TwilioRequest): TwilioReply {
  const isCall = request.path.endsWith('/Calls.json');
  const sid = newSid(isCall ? 'CA' : 'SM');
  const accountSid = request.path.split('/')[3];
  const body = isCall
    ? { sid, account_sid: accountSid, to: request.form.To, from: request.form.From, status: 'queued' }
    : { sid, account_sid: accountSid, to: request.form.To, from: request.form.From, body: request.form.Body, status: 'queued' };
  return { status: 201, body };
}

/** Twilio's error shape, e.g. 400 / 21211 "The 'To' number … is not a valid phone number." */
export function twilioError(status: number, code: number, message: string): TwilioReply {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}

/** A RequestClient that sends every request to `base` instead of api.twilio.com. */
class LocalRequestClient extends twilio.RequestClient {
  constructor(private readonly base: string) {
    super({ keepAlive: false });
  }

  override request<TData>(opts: RequestClientBase.RequestOptions<TData>) {
    const original = new URL(opts.uri);
    return super.request<TData>({ ...opts, uri: new URL(original.pathname + original.search, this.base).href });
  }
}

/** The real SDK with every request sent to `base` (e.g. a port nothing listens on). */
export function twilioClientFactory(base: string): TwilioClientFactory {
  return (accountSid, authToken) => twilio(accountSid, authToken, { env: {}, autoRetry: false, httpClient: new LocalRequestClient(base) });
}

/** A local HTTP server speaking Twilio's REST shape, on a random loopback port. */
export async function startTwilioServer(): Promise<TestTwilioServer> {
  const state = { base: '', requests: [] as TwilioRequest[], reply: created } as TestTwilioServer;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const authorization = req.headers.authorization ?? '';
      const [username = '', password = ''] = Buffer.from(authorization.replace(/^Basic /, ''), 'base64').toString('utf8').split(':');
      const request: TwilioRequest = {
        method: req.method ?? '',
        path: new URL(req.url ?? '/', 'http://x').pathname,
        username,
        password,
        authorization,
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      };
      state.requests.push(request);
      const { status, body } = state.reply(request);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.clientFactory = twilioClientFactory(state.base);
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}
