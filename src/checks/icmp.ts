import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import path from 'node:path';
import ping from 'ping';
import { z } from 'zod';
import { isValidHost } from './address.ts';
import { bool, excerpt, forceIp } from './params.ts';
import { defineCheck, type CheckContext, type CheckOutcome } from './types.ts';

/** gobearmon ran `ping -c 5 -w 10`: five echo requests, ten seconds at most. */
const ECHO_COUNT = 5;
const PING_DEADLINE_S = 10;
/** Loss above this (percent) is offline when `packetloss` is set; 100 % is always offline. */
const LOSS_THRESHOLD = 30;

export const schema = z
  .object({
    target: z
      .string()
      .trim()
      .refine(isValidHost, { message: 'expected an IP address or hostname (at most 253 characters)' }),
    packetloss: bool(),
    force_ip: forceIp(),
  })
  .superRefine((params, ctx) => {
    const family = isIP(params.target);
    if (family !== 0 && params.force_ip !== 0 && family !== params.force_ip) {
      ctx.addIssue({
        code: 'custom',
        path: ['force_ip'],
        message: `IPv${family} target ${params.target} cannot be pinged over IPv${params.force_ip}`,
        input: params.force_ip,
      });
    }
  });
export type IcmpParams = z.output<typeof schema>;

/** The ping package reports loss as a string ("100.000") or 'unknown'; returns percent or undefined. */
export function parsePacketLoss(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  if (typeof value === 'string' && !/^\s*\d+(\.\d+)?\s*%?\s*$/.test(value)) return undefined;
  const loss = typeof value === 'number' ? value : Number.parseFloat(value);
  return Number.isFinite(loss) && loss >= 0 && loss <= 100 ? loss : undefined;
}

/** gobearmon's rule: all replies lost, or (when asked) more than 30 % lost. */
export function lossIsOffline(loss: number, packetloss: boolean): boolean {
  return loss >= 100 || (packetloss && loss > LOSS_THRESHOLD);
}

type Resolved = { address: string; family: 4 | 6 } | { error: string };

/**
 * Resolves the target in-process so ping only ever sees a numeric address: no DNS inside
 * the child (its run stays bounded by -w), and abort can stop waiting on a slow resolver.
 * `.invalid` names never resolve (RFC 6761 §6.4), so we don't ask a resolver about them.
 */
async function resolveTarget(target: string, forceIp: 0 | 4 | 6): Promise<Resolved> {
  const literal = isIP(target);
  if (literal === 4 || literal === 6) return { address: target, family: literal };
  const unresolved = (why: string) => ({ error: `${target} could not be resolved (${why})` });
  if (/(^|\.)invalid\.?$/i.test(target)) return unresolved('reserved .invalid name');
  try {
    const { address, family } = await lookup(target, { family: forceIp });
    return { address, family: family === 6 ? 6 : 4 };
  } catch (err) {
    return unresolved((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
}

/** Resolves to `undefined` once the signal aborts (immediately when it already has). */
function aborted(signal: AbortSignal): { promise: Promise<undefined>; dispose: () => void } {
  let onAbort = () => {};
  const promise = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/** Whether an executable named `name` exists on PATH (to tell a missing binary from other spawn failures). */
async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      await access(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Runs the system ping; failing to start it is a worker fault, so it throws (runner => `error`). */
async function probe(address: string, family: 4 | 6, sourceAddress: string | undefined) {
  try {
    return await ping.promise.probe(address, {
      numeric: true,
      min_reply: ECHO_COUNT,
      deadline: PING_DEADLINE_S,
      timeout: PING_DEADLINE_S,
      // v6:false keeps the `ping` binary (iputils picks the family from -4/-6); without an
      // explicit value the package would switch to `ping6`, absent on many systems.
      v6: false,
      sourceAddr: sourceAddress,
      // The package appends the target last, so '--' here ends option parsing right before it.
      extra: [`-${family}`, '--'],
    });
  } catch (err) {
    if (!(await onPath('ping'))) throw new Error('ping binary not found on PATH (install iputils-ping)');
    throw new Error(`could not run ping: ${(err as Error).message}`);
  }
}

/** Sends 5 echo requests within 10 s; offline on total loss, or > 30 % with `packetloss`. */
export async function run(params: IcmpParams, ctx: CheckContext): Promise<CheckOutcome> {
  const timedOut: CheckOutcome = { status: 'offline', message: 'ping timed out' };
  const abort = aborted(ctx.signal);
  try {
    const resolved = await Promise.race([resolveTarget(params.target, params.force_ip), abort.promise]);
    if (!resolved) return timedOut;
    if ('error' in resolved) return { status: 'offline', message: resolved.error };
    // The package gives no handle on its child: on abort we stop waiting, and -w 10 ends it.
    const probing = probe(resolved.address, resolved.family, ctx.sourceAddress);
    probing.catch(() => {}); // a failure after abort has nobody left to report to
    const response = await Promise.race([probing, abort.promise]);
    if (!response) return timedOut;
    const via = resolved.address === params.target ? '' : ` (${resolved.address})`;
    const loss = parsePacketLoss(response.packetLoss);
    if (loss === undefined) {
      const lastLine = response.output.split('\n').filter((line) => line.trim()).pop() ?? 'no output';
      return { status: 'offline', message: `ping${via} failed: ${excerpt(lastLine)}` };
    }
    return {
      status: lossIsOffline(loss, params.packetloss) ? 'offline' : 'online',
      message: `ping: ${loss}% packet loss${via}`,
    };
  } finally {
    abort.dispose();
  }
}

export const icmpCheck = defineCheck({
  type: 'icmp',
  schema,
  // ping's own -w 10 plus time to resolve the name and start the process.
  deadlineMs: () => (PING_DEADLINE_S + 2) * 1000,
  run,
});
