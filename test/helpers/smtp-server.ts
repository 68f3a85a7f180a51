import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { onTestFinished } from 'vitest';

/** A mail as the server received it, with headers and text body decoded for assertions. */
export interface ReceivedMail {
  envelopeFrom: string;
  envelopeTo: string[];
  raw: string;
  /** Lower-case names, unfolded values. */
  headers: Record<string, string>;
  text: string;
}

export interface SmtpServerOptions {
  /** When set, AUTH is required and must match. */
  username?: string;
  password?: string;
  /** Decides per recipient: undefined accepts, otherwise an SMTP reply such as 451 or 550. */
  rejectRecipient?: (address: string) => { code: number; message: string } | undefined;
  /** Text of the 535 reply on bad credentials (tests make it echo the password). */
  authFailureMessage?: (password: string) => string;
  /** Listen on this port (e.g. one a test found refused before); default a random one. */
  port?: number;
}

export interface TestSmtpServer {
  port: number;
  mails: ReceivedMail[];
  /** Credentials every AUTH attempt carried. */
  logins: { username: string; password: string }[];
}

/**
 * A real SMTP server on a random loopback port, closed after the test. STARTTLS is off
 * (smtp-server's built-in certificate has expired), so AUTH happens over plain text.
 */
export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const state: TestSmtpServer = { port: 0, mails: [], logins: [] };
  const config: SMTPServerOptions = {
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: options.username === undefined,
    logger: false,
    onAuth(auth, _session, callback) {
      const password = auth.password ?? '';
      state.logins.push({ username: auth.username ?? '', password });
      if (auth.username === options.username && password === options.password) return callback(null, { user: auth.username });
      const message = options.authFailureMessage?.(password) ?? 'Authentication credentials invalid';
      return callback(Object.assign(new Error(message), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      const rejection = options.rejectRecipient?.(address.address);
      if (!rejection) return callback();
      return callback(Object.assign(new Error(rejection.message), { responseCode: rejection.code }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        state.mails.push({
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...parseMail(raw),
        });
        callback();
      });
    },
  };
  const server = new SMTPServer(config);
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  state.port = (server.server.address() as AddressInfo).port;
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

/** Enough of RFC 5322/2045 for our single-part text mails: headers plus 7bit/QP/base64 body. */
export function parseMail(raw: string): { headers: Record<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  return { headers, text: decodeBody(body, encoding).replace(/\r\n/g, '\n').replace(/\n$/, '') };
}

function decodeBody(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding !== 'quoted-printable') return body;
  const joined = body.replace(/=\r\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
