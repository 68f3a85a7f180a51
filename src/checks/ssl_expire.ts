import { isIP, type TcpSocketConnectOpts } from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { hostPortSchema } from './address.ts';
import { excerpt, withDefault } from './params.ts';
import { defineCheck, type CheckContext, type CheckOutcome } from './types.ts';

const DAY_MS = 86_400_000;
/** gobearmon dialled with a 15 s timeout; here it bounds the whole handshake. */
const HANDSHAKE_TIMEOUT_MS = 15_000;
const TIMED_OUT: CheckOutcome = { status: 'offline', message: 'timed out before the TLS handshake completed' };

export const schema = z.object({
  address: hostPortSchema(),
  days: withDefault(z.number().int().min(0), 0),
});
export type SslExpireParams = z.output<typeof schema>;

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** Online while the leaf certificate has more than `days` whole days left (as gobearmon). */
export function judgeExpiry(notAfterMs: number, nowMs: number, days: number, name: string): CheckOutcome {
  const remaining = Math.floor((notAfterMs - nowMs) / DAY_MS);
  const status = remaining > days ? 'online' : 'offline';
  if (notAfterMs > nowMs) return { status, message: `certificate (${name}) expires in ${plural(remaining, 'day')}` };
  const ago = Math.floor((nowMs - notAfterMs) / DAY_MS);
  return { status, message: `certificate (${name}) expired ${ago === 0 ? 'today' : `${plural(ago, 'day')} ago`}` };
}

/** Subject CN of a peer certificate (may be repeated), or a placeholder when it has none. */
function commonName(cert: tls.PeerCertificate): string {
  const cn: unknown = cert.subject?.CN;
  const text = Array.isArray(cn) ? cn.join(', ') : typeof cn === 'string' ? cn : '';
  return excerpt(text, 100) || 'no CN';
}

/** Reads the leaf certificate of an established TLS session and judges its expiry. */
function judgePeer(socket: tls.TLSSocket, params: SslExpireParams, ctx: CheckContext): CheckOutcome {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { status: 'offline', message: 'no peer certificate' };
  const notAfter = Date.parse(cert.valid_to);
  if (Number.isNaN(notAfter)) {
    return { status: 'offline', message: `certificate has an unreadable expiry date ${JSON.stringify(cert.valid_to)}` };
  }
  return judgeExpiry(notAfter, ctx.now(), params.days, commonName(cert));
}

/** TLS handshake without chain verification (only expiry matters), then checks the leaf's notAfter. */
export async function run(params: SslExpireParams, ctx: CheckContext): Promise<CheckOutcome> {
  const { host, port } = params.address;
  // The runner aborts the signal at deadlineMs (15 s), which bounds connect + handshake.
  if (ctx.signal.aborted) return TIMED_OUT;
  return new Promise<CheckOutcome>((resolve) => {
    const name = host.replace(/\.$/, '');
    // tls.connect accepts every socket.connect() option (documented), the types just omit them.
    const options: tls.ConnectionOptions & Pick<TcpSocketConnectOpts, 'localAddress'> = {
      host,
      port,
      // SNI is only defined for names; sending an IP literal is a protocol violation.
      servername: isIP(name) === 0 ? name : undefined,
      rejectUnauthorized: false,
      localAddress: ctx.sourceAddress,
    };
    const socket = tls.connect(options);
    let connected = false;
    const finish = (outcome: CheckOutcome) => {
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish(TIMED_OUT);
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    socket.once('connect', () => {
      connected = true;
    });
    socket.once('secureConnect', () => finish(judgePeer(socket, params, ctx)));
    socket.once('error', (err: NodeJS.ErrnoException & { reason?: string }) => {
      const what = connected ? 'TLS handshake failed' : 'connection failed';
      // OpenSSL errors carry a short `reason`; their message is a long internal dump.
      const detail = `${err.code ?? ''} ${err.reason ?? err.message}`.trim();
      finish({ status: 'offline', message: excerpt(`${what}: ${detail}`) });
    });
    socket.once('close', () => finish({ status: 'offline', message: 'connection closed during the TLS handshake' }));
  });
}

export const sslExpireCheck = defineCheck({
  type: 'ssl_expire',
  schema,
  deadlineMs: () => HANDSHAKE_TIMEOUT_MS,
  run,
});
