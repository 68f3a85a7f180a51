/**
 * The web role's edges: `bearmon web` (runWebCommand), `bearmon web hash-password`
 * (hashPasswordCommand), the demo's dashboard (startDemoWeb) and the tests' (startWeb).
 * Everything below the edge gets its connections and settings passed in.
 */
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.ts';
import { natsOptions } from '../bus/connect.ts';
import { inboxPrefix } from '../bus/permissions.ts';
import { createCluster, type Cluster } from '../db/cluster.ts';
import type { Logger } from '../log.ts';
import { hashPassword } from './auth.ts';
import { createWebData } from './data.ts';
import { loadHistoryQuery, type HistoryQuery } from './history.ts';
import { LiveState } from './live.ts';
import { createWebActions, startWebServer, type WebServer } from './server.ts';

export interface WebOptions {
  /** A connection with the operator's rights (or a `web` user's): status requests, reload, reading the log. */
  nc: NatsConnection;
  stream: string;
  /** `[controller] database` DSNs. */
  databases: readonly string[];
  web: Config['web'];
  log: Logger;
  /** Instead of src/history/query.ts's (tests). */
  history?: HistoryQuery;
  loginLimit?: { max: number; windowMs: number };
  /** Status poll period (default 2 s). */
  pollMs?: number;
}

export interface WebHandle {
  url: string;
  server: WebServer;
  live: LiveState;
  stop(): Promise<void>;
}

/** Starts the web role on an open NATS connection (not closed by stop). */
export async function startWeb(options: WebOptions): Promise<WebHandle> {
  const cluster: Cluster = createCluster({ dsns: options.databases, log: options.log, connectionLimit: 4, queryTimeoutMs: 10_000 });
  const history = options.history ?? (await loadHistoryQuery(cluster));
  const live = new LiveState({ nc: options.nc, stream: options.stream, log: options.log, pollMs: options.pollMs });
  live.start();
  // The operator commands' session (src/cli/manage-actions.ts): it reads only [controller] database.
  const { openSession } = await import('../cli/manage-actions.ts');
  const session = await openSession({ controller: { database: [...options.databases] } } as unknown as Config, options.log);
  let server: WebServer;
  try {
    server = await startWebServer({
      listen: options.web.listen,
      user: options.web.user,
      passwordHash: options.web.passwordHash,
      sessionTtlMs: options.web.sessionTtl,
      publicChecks: options.web.public,
      live,
      data: createWebData(cluster),
      history,
      actions: createWebActions({ session, nc: options.nc }),
      log: options.log,
      loginLimit: options.loginLimit,
    });
  } catch (err) {
    await live.stop();
    await session.close();
    await cluster.close();
    throw err;
  }
  // A public entry that names no check shows nothing: say so once.
  void createWebData(cluster)
    .checks()
    .then((rows) => {
      const unknown = options.web.public.filter((entry) => !rows.some((r) => r.name === entry.trim() || String(r.id) === entry.trim()));
      if (unknown.length > 0) options.log.warn({ unknown }, 'web: [web] public names checks that do not exist: %s', unknown.join(', '));
    })
    .catch(() => {});
  return {
    url: server.url,
    server,
    live,
    stop: async () => {
      await server.close();
      await live.stop();
      await session.close();
      await cluster.close();
    },
  };
}

/** `bearmon web`: serves until `shutdown` aborts. */
export async function runWebCommand(config: Config, log: Logger, shutdown: AbortSignal): Promise<void> {
  const { connectBus } = await import('../bus/connect.ts');
  const nc = await connectBus(config.nats, 'bearmon-web');
  let handle: WebHandle;
  try {
    handle = await startWeb({ nc, stream: config.nats.stream, databases: config.controller.database, web: config.web, log });
  } catch (err) {
    await nc.close();
    throw err;
  }
  log.info({ url: handle.url, public: config.web.public.length }, 'web: serving the dashboard at %s (public status page at %s/status)', handle.url, handle.url);
  if (!config.web.passwordHash) log.warn('web: [web] passwordHash is not set: nobody can log in (make one with `bearmon web hash-password`)');
  if (!shutdown.aborted) await new Promise((resolve) => shutdown.addEventListener('abort', resolve, { once: true }));
  await handle.stop();
  await nc.drain().catch(() => nc.close());
}

/**
 * `bearmon web hash-password`: reads the password from stdin (one line; a terminal is not
 * echoed to) and prints the `[web] passwordHash` line. Exit 0, or 2 with the reason.
 */
export async function hashPasswordCommand(
  input: NodeJS.ReadableStream = process.stdin,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let password: string;
  if ((input as NodeJS.ReadStream).isTTY) {
    // A terminal: ask, and echo nothing (readline writes its echo to a sink).
    const { createInterface } = await import('node:readline/promises');
    const { Writable } = await import('node:stream');
    err('password (not shown): ');
    const rl = createInterface({ input, output: new Writable({ write: (_chunk, _encoding, done) => done() }), terminal: true });
    password = await rl.question('');
    rl.close();
    err('\n');
  } else {
    let text = '';
    for await (const chunk of input) {
      text += chunk.toString();
      if (text.includes('\n')) break;
    }
    password = text.split(/\r?\n/)[0] ?? '';
  }
  try {
    out(`passwordHash = ${await hashPassword(password)}\n`);
    return 0;
  } catch (error) {
    err(`bearmon web hash-password: ${(error as Error).message}\n`);
    return 2;
  }
}

export interface DemoWebOptions {
  /** The demo's NATS server URL (no credentials): the web role connects as `operator`. */
  natsUrl: string;
  operatorPassword: string;
  stream: string;
  /** The demo database's DSN. */
  dsn: string;
  log: Logger;
  /** Default 127.0.0.1:8080, falling back to a free port when taken. */
  listen?: { host: string; port: number };
  /** Check names or ids on the public status page (default: every check of the database). */
  publicChecks?: string[];
}

/**
 * The dashboard of `npm start`: a fresh random password each start (printed by the caller
 * from `login`), every demo check public unless told otherwise.
 */
export async function startDemoWeb(options: DemoWebOptions): Promise<WebHandle & { login: { user: string; password: string }; lines: string[] }> {
  const password = randomBytes(9).toString('base64url');
  const user = 'demo';
  const nc = await connect({ ...natsOptions([options.natsUrl]), user: 'operator', pass: options.operatorPassword, inboxPrefix: inboxPrefix('operator'), name: 'bearmon-demo-web', maxReconnectAttempts: -1 });
  let publicChecks = options.publicChecks;
  if (!publicChecks) {
    const cluster = createCluster({ dsns: [options.dsn], log: options.log, connectionLimit: 1 });
    try {
      const { createWebData } = await import('./data.ts');
      publicChecks = (await createWebData(cluster).checks()).map((c) => String(c.id));
    } finally {
      await cluster.close();
    }
  }
  const web: Config['web'] = { listen: options.listen ?? { host: '127.0.0.1', port: 8080 }, user, passwordHash: await hashPassword(password), public: publicChecks, sessionTtl: 12 * 3_600_000 };
  let handle: WebHandle;
  try {
    handle = await startWeb({ nc, stream: options.stream, databases: [options.dsn], web, log: options.log });
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE' || options.listen) {
      await nc.close();
      throw err;
    }
    handle = await startWeb({ nc, stream: options.stream, databases: [options.dsn], web: { ...web, listen: { ...web.listen, port: 0 } }, log: options.log });
  }
  return {
    ...handle,
    login: { user, password },
    lines: [`dashboard: ${handle.url}/  (user ${user}, password ${password})`, `status page: ${handle.url}/status`],
    stop: async () => {
      await handle.stop();
      await nc.close();
    },
  };
}

