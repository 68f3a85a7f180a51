import type { Answer } from 'dns-packet';
import { z } from 'zod';
import { parseHostPort, type HostPort } from './address.ts';
import { renderAnswer } from './dns-render.ts';
import { DnsQueryError, exchange } from './dns-wire.ts';
import { str, withDefault } from './params.ts';
import { defineCheck, type CheckContext, type CheckOutcome } from './types.ts';

export const DNS_PORT = 53;
/**
 * gobearmon had no timeout parameter (miekg's client waited 2 s per read); bearmon gives the
 * whole query 5 s: UDP, a retransmit after 2 s, and the TCP fallback all share that budget.
 */
export const QUERY_TIMEOUT_MS = 5000;
const UDP_RETRY_MS = 2000;
/** Longest answer/expect text quoted in a message: a huge TXT record must not flood logs. */
const MAX_QUOTED = 300;

/** gobearmon's record types, plus cname (its own docs cite CNAME, yet its map lacked it). */
const RECORD_TYPES = new Map(
  ['a', 'ns', 'soa', 'ptr', 'mx', 'txt', 'aaaa', 'srv', 'spf', 'cname'].map((t) => [t, t.toUpperCase()]),
);

/** host[:port]; a bare host (IPv6 included, unlike gobearmon's "no colon" test) means port 53. */
export function parseDnsServer(text: string): HostPort | { error: string } {
  return parseHostPort(text.trim(), DNS_PORT);
}

/** Why `name` is not a queryable DNS name, or undefined when it is. */
export function dnsNameProblem(name: string): string | undefined {
  if (name === '.') return undefined;
  if (name === '') return 'expected a DNS name, got an empty string';
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length > 253) return `expected a DNS name of at most 253 characters, got ${bare.length}`;
  const labels = bare.split('.');
  if (labels.some((label) => label === '')) return 'expected a DNS name, found an empty label';
  if (labels.some((label) => label.length > 63)) return 'expected a DNS name with labels of at most 63 characters';
  if (!labels.every((label) => /^[A-Za-z0-9_*-]+$/.test(label))) {
    return "expected a DNS name (letters, digits, '-', '_', '*' and dots)";
  }
  return undefined;
}

const serverSchema = withDefault(z.string().max(260), '').transform((value, ctx) => {
  if (value.trim() === '') return undefined; // the worker's configured resolver
  const parsed = parseDnsServer(value);
  if (!('error' in parsed)) return parsed;
  ctx.addIssue({ code: 'custom', message: `expected host[:port], ${parsed.error}`, input: value });
  return z.NEVER;
});

const nameSchema = z
  .string()
  .max(1024)
  .transform((value, ctx) => {
    const name = value.trim();
    const problem = dnsNameProblem(name);
    if (!problem) return name;
    ctx.addIssue({ code: 'custom', message: problem, input: value });
    return z.NEVER;
  });

const typeSchema = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const type = RECORD_TYPES.get(value.trim().toLowerCase());
    if (type) return type;
    const known = [...RECORD_TYPES.keys()].join(', ');
    ctx.addIssue({ code: 'custom', message: `invalid record type, expected one of ${known}`, input: value });
    return z.NEVER;
  });

export const schema = z.object({
  server: serverSchema,
  name: nameSchema,
  type: typeSchema,
  expect: str(),
});
export type DnsParams = z.output<typeof schema>;

export async function run(params: DnsParams, ctx: CheckContext): Promise<CheckOutcome> {
  const { host, port } = params.server ?? configuredServer(ctx.dnsServer);
  try {
    const reply = await exchange({
      host,
      port,
      name: params.name,
      type: params.type,
      signal: ctx.signal,
      localAddress: ctx.sourceAddress,
      timeoutMs: QUERY_TIMEOUT_MS,
      udpRetryMs: UDP_RETRY_MS,
    });
    return judge(reply.packet.answers ?? [], reply.rcode, params.expect);
  } catch (err) {
    if (err instanceof DnsQueryError) return { status: 'offline', message: `query failed: ${err.message}` };
    throw err;
  }
}

/** A bad resolver in the worker's config is the worker's fault: throw, so the run is `error`. */
function configuredServer(text: string): HostPort {
  const parsed = parseDnsServer(text);
  if ('error' in parsed) throw new Error(`configured DNS server ${JSON.stringify(text)}: ${parsed.error}`);
  return parsed;
}

/** gobearmon's verdict: some answer, and when `expect` is set, some answer's text contains it. */
export function judge(answers: Answer[], rcode: string, expect: string): CheckOutcome {
  if (answers.length === 0) return { status: 'offline', message: `query returned no results (${rcode})` };
  const rendered = answers.map(renderAnswer);
  const first = quote(rendered[0]!);
  if (!expect) {
    const count = answers.length === 1 ? '1 answer' : `${answers.length} answers`;
    return { status: 'online', message: `query returned ${count}, first is ${first}` };
  }
  const match = rendered.find((text) => text.includes(expect));
  if (match) return { status: 'online', message: `answer contains expected string (${quote(match)})` };
  return {
    status: 'offline',
    message: `query answer does not contain expected string (answer is ${first}, expected ${quote(expect)})`,
  };
}

/** Bounded, single-line, but tabs kept: they are part of the rendered form users match. */
function quote(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED)}…` : line;
}

export const dnsCheck = defineCheck({
  type: 'dns',
  schema,
  // The query's own budget, plus a second for the resolver lookup of a named server and cleanup.
  deadlineMs: () => QUERY_TIMEOUT_MS + 1000,
  run,
});
