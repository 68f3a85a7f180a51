import type { PoolOptions } from 'mysql2';
import { decodeLenient, redactDsn, splitUrlUserinfo } from '../redact.ts';

/**
 * Turns a DSN into mysql2 options. Accepts gobearmon's go-sql-driver form
 * `user[:password]@tcp(host[:port])/dbname[?params]` (also `unix(/path)`) so existing
 * configs load unchanged, and `mysql://user:pass@host:port/db` URLs.
 *
 * As in go-sql-driver, the password of the first form is taken literally (any character,
 * `@`, `:` and `%` included). In a URL, `%XX` escapes are decoded and a `%` that starts no
 * valid escape (`50%off`) is kept as written. Errors show the DSN with its password masked.
 */
export function parseDsn(dsn: string): PoolOptions {
  if (/^mysql:\/\//i.test(dsn)) return parseUrl(dsn);
  const match = /^(?:([^:@]*)(?::(.*))?@)?(?:(tcp|unix)\(([^)]*)\))?\/([^?]*)(?:\?(.*))?$/s.exec(dsn);
  if (!match) throw new Error(`expected user:pass@tcp(host:port)/dbname, got ${shown(dsn)}`);
  const [, user, password, net, address, database, query] = match;
  if (!database) throw new Error(`missing database name in ${shown(dsn)}`);
  const options: PoolOptions = { user: user || 'root', password: password ?? '', database };
  if (net === 'unix') options.socketPath = address;
  else {
    const [host, port] = splitHostPort(address || '127.0.0.1:3306', dsn);
    options.host = host;
    options.port = port;
  }
  applyParams(options, new URLSearchParams(query ?? ''));
  return options;
}

function parseUrl(dsn: string): PoolOptions {
  // The userinfo is split off by hand, so a password may hold `@`, `/`, `?` or `#`
  // unescaped and a malformed escape never reaches the URL parser.
  const parts = splitUrlUserinfo(dsn);
  let url: URL;
  try {
    url = new URL(parts ? `${parts.scheme}${parts.rest}` : dsn);
  } catch {
    throw new Error(`invalid mysql:// URL ${shown(dsn)}: expected mysql://user:pass@host:port/dbname`);
  }
  if (!url.hostname) throw new Error(`invalid mysql:// URL ${shown(dsn)}: missing host`);
  const database = decodeLenient(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`missing database name in ${shown(dsn)}`);
  const options: PoolOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 3306,
    user: decodeLenient(parts?.user ?? '') || 'root',
    password: decodeLenient(parts?.password ?? ''),
    database,
  };
  applyParams(options, url.searchParams);
  return options;
}

const shown = (dsn: string) => JSON.stringify(redactDsn(dsn));

function splitHostPort(address: string, dsn: string): [string, number] {
  const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address);
  const port = match?.[2] ? Number(match[2]) : 3306;
  if (!match || !match[1] || port < 1 || port > 65535) throw new Error(`invalid address ${JSON.stringify(address)} in ${shown(dsn)}`);
  return [match[1], port];
}

/** Go driver params with a mysql2 meaning; others (parseTime, charset...) need nothing. */
function applyParams(options: PoolOptions, params: URLSearchParams): void {
  const timeout = params.get('timeout');
  if (timeout) {
    const ms = goDurationMs(timeout);
    if (ms !== undefined) options.connectTimeout = ms;
  }
}

function goDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

/** The DSN with its password replaced, for messages and logs (src/redact.ts). */
export { redactDsn as redact } from '../redact.ts';
