import { isIP } from 'node:net';
import { z } from 'zod';

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * A host a check may contact: an IP literal or a strict RFC 1123 hostname. Anything else
 * (spaces, shell metacharacters, a leading '-') is refused before any socket or process
 * is created, so a target can never become an option or a command.
 */
export function isValidHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port", "[v6]:port", or a bare host when a default port is given. */
export function parseHostPort(input: string, defaultPort?: number): HostPort | { error: string } {
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(input);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (isIP(input) === 6) {
    host = input;
  } else {
    const colon = input.lastIndexOf(':');
    host = colon === -1 ? input : input.slice(0, colon);
    portText = colon === -1 ? undefined : input.slice(colon + 1);
  }
  if (!isValidHost(host)) return { error: `invalid host ${JSON.stringify(host)}` };
  if (portText === undefined) {
    if (defaultPort === undefined) return { error: 'missing :port' };
    return { host, port: defaultPort };
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return { error: `invalid port ${JSON.stringify(portText)}` };
  return { host, port };
}

/** zod schema for a host:port string, producing {host, port}. */
export function hostPortSchema(defaultPort?: number) {
  return z
    .string()
    .max(260)
    .transform((value, ctx) => {
      const parsed = parseHostPort(value.trim(), defaultPort);
      if ('error' in parsed) {
        ctx.addIssue({ code: 'custom', message: `expected host:port, ${parsed.error}`, input: value });
        return z.NEVER;
      }
      return parsed;
    });
}

