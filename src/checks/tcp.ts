import net from 'node:net';
import { z } from 'zod';
import { hostPortSchema } from './address.ts';
import { excerpt, forceIp, str, timeoutSeconds } from './params.ts';
import { defineCheck, type CheckContext, type CheckOutcome } from './types.ts';

/** Longest first line we wait for when matching `expect`: a target can't make us buffer more. */
const MAX_LINE_BYTES = 64 * 1024;

export const schema = z.object({
  address: hostPortSchema(),
  timeout: timeoutSeconds(),
  payload: str(),
  force_ip: forceIp(),
  expect: str(),
});
export type TcpParams = z.output<typeof schema>;

/** Connects; when `expect` is set, sends payload + "\n" (if any) and matches the first line. */
export async function run(params: TcpParams, ctx: CheckContext): Promise<CheckOutcome> {
  const { host, port } = params.address;
  return new Promise<CheckOutcome>((resolve) => {
    const socket = net.connect({
      host,
      port,
      family: params.force_ip || undefined,
      localAddress: ctx.sourceAddress,
      timeout: params.timeout * 1000,
    });
    let received = Buffer.alloc(0);
    let connected = false;
    const finish = (outcome: CheckOutcome) => {
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish({ status: 'offline', message: `timed out after ${params.timeout}s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    socket.once('connect', () => {
      connected = true;
      if (!params.expect) return finish({ status: 'online', message: `connected to ${host}:${port}` });
      if (params.payload) socket.write(`${params.payload}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(0x0a);
      if (newline === -1 && received.length < MAX_LINE_BYTES) return;
      const line = received.subarray(0, newline === -1 ? MAX_LINE_BYTES : newline).toString('utf8');
      finish(
        line.includes(params.expect)
          ? { status: 'online', message: `response matched ${JSON.stringify(params.expect)}` }
          : {
              status: 'offline',
              message: `response mismatch, expected [${params.expect}] but got [${excerpt(line)}]`,
            },
      );
    });
    socket.once('timeout', () =>
      finish({
        status: 'offline',
        message: connected ? `no response line within ${params.timeout}s` : `connect timed out after ${params.timeout}s`,
      }),
    );
    socket.once('end', () =>
      finish({ status: 'offline', message: 'connection closed before a newline-terminated response' }),
    );
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish({ status: 'offline', message: `TCP connection error: ${err.code ?? ''} ${err.message}`.trim() }),
    );
  });
}

export const tcpCheck = defineCheck({
  type: 'tcp',
  schema,
  deadlineMs: (p) => p.timeout * 1000,
  run,
});
