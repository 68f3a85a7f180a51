import type { PoolOptions } from 'mysql2';

/**
 * Turns a DSN into mysql2 options. Accepts gobearmon's go-sql-driver form
 * `user[:password]@tcp(host[:port])/dbname[?params]` (also `unix(/path)`) so existing
 * configs load unchanged, and `mysql://user:pass@host:port/db` URLs.
 */
export function parseDsn(dsn: string): PoolOptions {
  if (dsn.startsWith('mysql://')) return parseUrl(dsn);
  const match = /^(?:([^:@]*)(?::(.*))?@)?(?:(tcp|unix)\(([^)]*)\))?\/([^?]*)(?:\?(.*))?$/.exec(dsn);
  if (!match) throw new Error(`expected user:pass@tcp(host:port)/dbname, got ${JSON.stringify(redact(dsn))}`);
  const [, user, password, net, address, database, query] = match;
  if (!database) throw new Error(`missing database name in ${JSON.stringify(redact(dsn))}`);
  const options: PoolOptions = { user: user || 'root', password: password ?? '', database };
  if (net === 'unix') options.socketPath = address;
  else {
    const [host, port] = splitHostPort(address || '127.0.0.1:3306');
    options.host = host;
    options.port = port;
  }
  applyParams(options, new URLSearchParams(query ?? ''));
  return options;
}

function parseUrl(dsn: string): PoolOptions {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    throw new Error(`invalid mysql:// URL ${JSON.stringify(redact(dsn))}`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`missing database name in ${JSON.stringify(redact(dsn))}`);
  const options: PoolOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
    database,
  };
  applyParams(options, url.searchParams);
  return options;
}

function splitHostPort(address: string): [string, number] {
  const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address);
  const port = match?.[2] ? Number(match[2]) : 3306;
  if (!match || !match[1] || port < 1 || port > 65535) throw new Error(`invalid address ${JSON.stringify(address)}`);
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

/** The DSN with its password replaced, for messages and logs. */
export function redact(dsn: string): string {
  if (dsn.startsWith('mysql://')) return dsn.replace(/^(mysql:\/\/[^:@/]*:)[^@]*@/, '$1***@');
  return dsn.replace(/^([^:@/]*:)[^@]*@(?=(tcp|unix)\(|\/)/, '$1***@');
}
