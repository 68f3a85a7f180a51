/**
 * `bearmon web`: the dashboard (login), its JSON API (docs/API.md), live updates over SSE,
 * and the public status page with badges. Fastify: schema-less routes whose inputs are
 * checked here by hand, each failure naming the field and the value (400).
 *
 * Safety:
 * - /, /api/* need a session (src/web/auth.ts); /status, /status.json and /badge/* show
 *   only the checks `[web] public` names, and of those only name, state, uptime and the
 *   times of incidents — never a check's data or a result's message (which may quote a URL).
 * - Every request that changes something (POST) must come from this site: its Origin (or,
 *   without one, its Referer) must be the Host it was sent to; the session cookie is
 *   SameSite=Strict as well. POST /login is rate-limited per client address (429 +
 *   Retry-After).
 * - Actions run the operator commands' code: pausing a check is the repository writer's
 *   updateCheck in one transaction (as `bearmon check disable`) followed by a reload
 *   request; retrying a notification is outbox.requeue (as `bearmon notifications retry`).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CheckStatus } from '../controller/status.ts';
import type { Logger } from '../log.ts';
import { explainTransition } from '../replay/explain.ts';
import { subject } from '../bus/subjects.ts';
import { SESSION_COOKIE, Sessions } from './auth.ts';
import { badgeSvg, BADGE_COLORS, formatUptime, normalizeUptime, uptimeColor } from './badge.ts';
import { notificationView, type CheckRow, type IncidentRow, type WebData } from './data.ts';
import type { HistoryQuery } from './history.ts';
import type { BusEvent, CompletedRound, LiveState, StatusSummary, TransitionLine } from './live.ts';
import { renderLoginPage, renderStatusPage, type PublicCheck } from './pages.ts';

export interface WebActions {
  /** Pauses (enabled = false) or resumes a check; returns its name. Throws InputError-like errors with a message for 4xx. */
  setCheckEnabled(checkId: number, enabled: boolean): Promise<{ id: number; name: string; enabled: boolean; controller: string }>;
}

export interface WebServerOptions {
  listen: { host: string; port: number };
  user: string;
  passwordHash: string | undefined;
  sessionTtlMs: number;
  /** `[web] public`: check names or ids. */
  publicChecks: readonly string[];
  live: LiveState;
  data: WebData;
  history: HistoryQuery;
  actions: WebActions;
  log: Logger;
  /** Login attempts per client address per window (default 10 per minute). */
  loginLimit?: { max: number; windowMs: number };
  now?: () => Date;
}

export interface WebServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const show = (value: unknown) => JSON.stringify(typeof value === 'string' && value.length > 80 ? `${value.slice(0, 80)}…` : value);
const STATES = ['online', 'offline', 'pending', 'misconfigured'] as const;
type State = (typeof STATES)[number];
const DAY = 86_400_000;
const PUBLIC_CACHE_MS = 10_000;
const WINDOWS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY, '90d': 90 * DAY } as const;
type Window = keyof typeof WINDOWS;

/** A query or path parameter that must be a positive integer id. */
function idParam(field: string, value: unknown): number {
  if (typeof value !== 'string' || !/^[1-9]\d{0,9}$/.test(value) || Number(value) > 2_147_483_647) throw new HttpError(400, `${field}: expected a positive integer id, got ${show(value)}`);
  return Number(value);
}
function optionalInt(field: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,6}$/.test(value) || Number(value) < min || Number(value) > max) throw new HttpError(400, `${field}: expected an integer from ${min} to ${max}, got ${show(value)}`);
  return Number(value);
}
function queryOf(request: FastifyRequest, allowed: readonly string[]): Record<string, string | undefined> {
  const q = (request.query ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(q)) {
    if (!allowed.includes(key)) throw new HttpError(400, `${key}: unknown query parameter (expected ${allowed.join(', ') || 'none'}), got ${show(value)}`);
    if (typeof value !== 'string') throw new HttpError(400, `${key}: expected one value, got ${show(value)}`);
  }
  return q as Record<string, string | undefined>;
}

/** The site's own origin as the browser would send it: scheme://host[:port] of the Host header. */
function ownOrigin(request: FastifyRequest): string | null {
  const host = request.headers.host;
  if (!host || !/^[A-Za-z0-9.[\]:-]{1,262}$/.test(host)) return null;
  return `${request.protocol}://${host}`;
}

function sameOrigin(request: FastifyRequest): string | null {
  const own = ownOrigin(request);
  if (!own) return `host: expected a host name, got ${show(request.headers.host)}`;
  const origin = request.headers.origin;
  if (typeof origin === 'string') return origin === own ? null : `origin: expected ${own}, got ${show(origin)} (cross-site requests are refused)`;
  const referer = request.headers.referer;
  if (typeof referer === 'string') {
    try {
      if (new URL(referer).origin === own) return null;
    } catch {
      /* falls through */
    }
    return `referer: expected a page of ${own}, got ${show(referer)} (cross-site requests are refused)`;
  }
  return 'origin: missing (a request that changes something must say where it comes from)';
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const now = options.now ?? (() => new Date());
  const sessions = new Sessions({ user: options.user, passwordHash: options.passwordHash, ttlMs: options.sessionTtlMs });
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const assets = await loadAssets(root);
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false, return503OnClosing: true });
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  // application/x-www-form-urlencoded for the login form without JavaScript.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Referrer-Policy', 'same-origin');
    reply.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'");
    return payload;
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
    if (status >= 500) options.log.error({ err: err.message, url: request.url }, 'web: request failed');
    const message = status >= 500 && !(err instanceof HttpError) ? 'internal error (see the web role\'s log)' : err.message;
    void reply.status(status).type('application/json').send({ error: message });
  });
  app.setNotFoundHandler((request, reply) => void reply.status(404).send({ error: `path: no such page ${show(request.url.split('?')[0])}` }));

  // Cross-site protection for every request that changes something.
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const problem = sameOrigin(request);
    if (problem) throw new HttpError(403, problem);
  });

  const sessionOf = (request: FastifyRequest) => sessions.get(request.cookies[SESSION_COOKIE]);
  const requireSession = async (request: FastifyRequest) => {
    if (!sessionOf(request)) throw new HttpError(401, 'session: missing or expired; log in at /login');
  };

  // --- pages and assets -----------------------------------------------------------------
  for (const [path, asset] of assets) {
    app.get(path, async (_request, reply) => reply.type(asset.type).header('Cache-Control', 'no-cache').send(asset.body));
  }
  app.get('/', async (request, reply) => {
    if (!sessionOf(request)) return reply.redirect('/login', 303);
    return reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(assets.get('/assets/index.html')!.body);
  });
  app.get('/login', async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    return reply.type('text/html; charset=utf-8').send(renderLoginPage({ failed: q.failed === '1', configured: options.passwordHash !== undefined }));
  });
  const limit = options.loginLimit ?? { max: 10, windowMs: 60_000 };
  app.post(
    '/login',
    {
      config: {
        rateLimit: {
          max: limit.max,
          timeWindow: limit.windowMs,
          errorResponseBuilder: (_req: FastifyRequest, ctx: { after: string; ttl: number }) =>
            Object.assign(new HttpError(429, `login: too many attempts from this address; try again in ${ctx.after}`), { statusCode: 429 }),
        },
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const json = request.headers['content-type']?.startsWith('application/json') ?? false;
      for (const field of ['user', 'password'] as const) {
        const value = body[field];
        if (typeof value !== 'string' || value.length === 0 || value.length > 200) throw new HttpError(400, `${field}: expected a non-empty string of at most 200 characters, got ${field === 'password' ? (typeof value === 'string' ? `${value.length} characters` : typeof value) : show(value)}`);
      }
      const session = await sessions.login(body.user as string, body.password as string);
      if (!session) {
        options.log.warn({ user: String(body.user).slice(0, 64), ip: request.ip }, 'web: failed login');
        if (json) throw new HttpError(401, 'login: wrong user or password');
        return reply.redirect('/login?failed=1', 303);
      }
      void reply.setCookie(SESSION_COOKIE, session.id, { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' });
      if (json) return { ok: true, user: session.user };
      return reply.redirect('/', 303);
    },
  );
  app.post('/logout', async (request, reply) => {
    const id = request.cookies[SESSION_COOKIE];
    sessions.logout(id);
    // Live streams of that session end with it.
    for (const [stream, owner] of streams) if (owner === id) stream.raw.end();
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  // --- uptime cache ---------------------------------------------------------------------
  const uptimes = new UptimeCache(options.history, now, options.log);
  // Warm the uptimes as soon as the controller has named its checks.
  void options.live.ready.then(() => uptimes.forChecks(options.live.checks().map((c) => c.id))).catch(() => {});

  // --- the API --------------------------------------------------------------------------
  const checkFilter = (request: FastifyRequest) => {
    const q = queryOf(request, ['name', 'state']);
    const name = q.name;
    if (name !== undefined && name.length > 64) throw new HttpError(400, `name: expected at most 64 characters, got ${show(name)}`);
    const state = q.state;
    if (state !== undefined && !(STATES as readonly string[]).includes(state)) throw new HttpError(400, `state: expected one of ${STATES.join(', ')}, got ${show(state)}`);
    return { name: name?.toLowerCase(), state: state as State | undefined };
  };
  // The list is made of one JSON text per check, kept until that check or its uptimes
  // change: with 10,000 checks a request joins texts instead of serializing them all.
  let listCache: { key: string; body: string } | undefined;
  const checkTexts = new Map<number, { print: string; upVersion: number; text: string }>();
  app.get('/api/checks', { onRequest: requireSession }, async (request, reply) => {
    const filter = checkFilter(request);
    const checks = options.live.checks();
    const up = await uptimes.forChecks(checks.map((c) => c.id));
    const key = `${options.live.version}:${up.version}:${filter.name ?? ''}:${filter.state ?? ''}`;
    if (listCache?.key !== key) {
      const selected = checks.filter((c) => (!filter.name || c.name.toLowerCase().includes(filter.name)) && (!filter.state || c.state === filter.state));
      const texts = selected.map((c) => {
        const print = options.live.printOf(c.id) ?? '';
        const cached = checkTexts.get(c.id);
        if (cached && cached.print === print && cached.upVersion === up.version) return cached.text;
        const text = JSON.stringify(checkJson(c, up.values.get(c.id), undefined, options.live.lastRound(c.id)));
        checkTexts.set(c.id, { print, upVersion: up.version, text });
        return text;
      });
      if (checkTexts.size > checks.length * 2) for (const id of checkTexts.keys()) if (!options.live.check(id)) checkTexts.delete(id);
      listCache = { key, body: `{"controller":${JSON.stringify(options.live.summary())},"total":${checks.length},"checks":[${texts.join(',')}]` };
    }
    // Paused checks (enabled = 0) are not monitored, so the controller does not list them: from MySQL.
    const paused = (await options.data.checks()).filter((c) => !c.enabled && (!filter.name || c.name.toLowerCase().includes(filter.name))).map((c) => ({ id: c.id, name: c.name, type: c.type }));
    return reply.type('application/json').send(`${listCache.body},"paused":${JSON.stringify(paused)}}`);
  });

  const checkById = (request: FastifyRequest) => {
    const id = idParam('id', (request.params as Record<string, unknown>).id);
    const check = options.live.check(id);
    if (!check) throw new HttpError(404, `id: no check ${id} is monitored (disabled, deleted, or the controller has not loaded it)`);
    return check;
  };
  app.get('/api/checks/:id', { onRequest: requireSession }, async (request) => {
    queryOf(request, []);
    const check = checkById(request);
    const up = await uptimes.forChecks([check.id]);
    const incidents = await incidentsJson(options, { checkIds: [check.id], limit: 20 }, true);
    return { check: checkJson(check, up.values.get(check.id), now().getTime(), options.live.lastRound(check.id)), incidents };
  });
  app.get('/api/checks/:id/history', { onRequest: requireSession }, async (request) => {
    const q = queryOf(request, ['range']);
    const range = q.range ?? '24h';
    if (range !== '24h' && range !== '7d') throw new HttpError(400, `range: expected 24h or 7d, got ${show(range)}`);
    const check = checkById(request);
    const to = now();
    const from = new Date(to.getTime() - WINDOWS[range]);
    const [latency, daily] = await Promise.all([options.history.latency(check.id, from, to), options.history.dailyUptime(check.id, 90, to)]);
    return {
      checkId: check.id,
      range,
      from: from.toISOString(),
      to: to.toISOString(),
      latency: latency.map((p) => ({ ...p, bucketStart: p.bucketStart.toISOString() })),
      daily: daily.map((d) => ({ day: d.day, uptime: normalizeUptime(d.uptime) })),
    };
  });
  app.get('/api/incidents', { onRequest: requireSession }, async (request) => {
    const q = queryOf(request, ['check', 'limit']);
    const limitN = optionalInt('limit', q.limit, 1, 500, 50);
    const checkIds = q.check !== undefined ? [idParam('check', q.check)] : undefined;
    return { incidents: await incidentsJson(options, { checkIds, limit: limitN }, true) };
  });
  app.get('/api/workers', { onRequest: requireSession }, async (request) => {
    queryOf(request, []);
    const summary = options.live.summary();
    const to = now();
    const disagreements = await options.history.workerDisagreements(new Date(to.getTime() - DAY), to);
    const alive = new Set(summary.workers.map((w) => w.id));
    const workers = [
      ...summary.workers.map((w) => ({ ...w, alive: true, disagreements24h: disagreements.get(w.id) ?? 0 })),
      ...[...disagreements].filter(([id]) => !alive.has(id)).map(([id, n]) => ({ id, alive: false, capacity: null, inFlight: null, lastSeenMs: null, upMs: null, disagreements24h: n })),
    ];
    return { controller: summary.controller, view: summary.view, quorum: summary.quorum, confirmations: summary.confirmations, workers };
  });
  app.get('/api/outbox', { onRequest: requireSession }, async (request) => {
    const q = queryOf(request, ['state', 'limit']);
    const limitN = optionalInt('limit', q.limit, 1, 500, 100);
    const states = ['pending', 'sending', 'delivered', 'failed', 'unconfirmed', 'held', 'skipped'] as const;
    if (q.state !== undefined && !(states as readonly string[]).includes(q.state)) throw new HttpError(400, `state: expected one of ${states.join(', ')}, got ${show(q.state)}`);
    // By default what needs an operator's eye or is still to go out, maintenance holds included.
    const wanted = q.state ? [q.state as (typeof states)[number]] : (['pending', 'sending', 'failed', 'unconfirmed', 'held'] as const);
    const lists = await Promise.all(wanted.map((state) => options.data.outbox.list({ state, limit: limitN })));
    const rows = lists.flat().sort((a, b) => b.id - a.id).slice(0, limitN);
    return { summary: options.live.summary().notifications, notifications: rows.map(notificationView) };
  });
  app.post('/api/checks/:id/pause', { onRequest: requireSession }, async (request) => enable(request, false));
  app.post('/api/checks/:id/resume', { onRequest: requireSession }, async (request) => enable(request, true));
  async function enable(request: FastifyRequest, enabled: boolean) {
    const id = idParam('id', (request.params as Record<string, unknown>).id);
    const done = await options.actions.setCheckEnabled(id, enabled).catch((err: Error & { exitCode?: number }) => {
      throw err.exitCode === 2 ? new HttpError(404, err.message.replace(/^check: /, 'id: ')) : err;
    });
    options.data.invalidate();
    options.log.info({ check: id, enabled }, 'web: check %s by the dashboard', enabled ? 'resumed' : 'paused');
    void options.live.refresh();
    return done;
  }
  app.post('/api/notifications/:id/retry', { onRequest: requireSession }, async (request) => {
    const id = idParam('id', (request.params as Record<string, unknown>).id);
    const result = await options.data.outbox.requeue(id, now());
    if (!result.row) throw new HttpError(404, `id: no notification ${id}`);
    if (!result.requeued) throw new HttpError(409, `id: notification ${id} is ${result.row.state}, not retried (only failed or unconfirmed ones are)`);
    options.log.info({ notification: id }, 'web: notification requeued by the dashboard');
    return { requeued: true, notification: notificationView(result.row) };
  });

  // Live updates: Server-Sent Events.
  /** Open event streams and the session each belongs to. */
  const streams = new Map<FastifyReply, string | undefined>();
  app.get('/api/events', { onRequest: requireSession }, async (request, reply) => {
    queryOf(request, []);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Content-Type-Options': 'nosniff' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('status', options.live.summary());
    const at = () => now().getTime();
    const unsubscribe = options.live.subscribe({
      checks: (changed: CheckStatus[], removed: number[]) => send('checks', { changed: changed.map((c) => checkJson(c, uptimes.cached(c.id), at(), options.live.lastRound(c.id))), removed }),
      status: (summary: StatusSummary) => send('status', summary),
      event: (event: BusEvent) => {
        if (event.family !== 'result') send('bus', event);
      },
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    streams.set(reply, request.cookies[SESSION_COOKIE]);
    request.raw.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(reply);
    });
  });

  // --- public ---------------------------------------------------------------------------
  const publicChecks = async (): Promise<PublicCheck[]> => {
    const rows = await options.data.checks();
    const chosen = resolvePublic(options.publicChecks, rows);
    const up = await uptimes.forChecks(chosen.map((c) => c.id));
    return chosen.map((row) => {
      const live = options.live.check(row.id);
      const state = !row.enabled ? 'paused' : live ? (live.state === 'misconfigured' ? 'unknown' : live.state) : options.live.summary().reachable ? row.status : 'unknown';
      return { id: row.id, name: row.name, state, uptime: up.values.get(row.id) ?? { '24h': null, '7d': null, '30d': null, '90d': null } };
    });
  };
  // Anyone may ask for the public pages: they are made at most every 10 s (one set of
  // history queries however many ask), so a flood of requests is not a flood of queries.
  let publicCache: { at: number; value: ReturnType<typeof makePublicStatus> } | undefined;
  const publicStatus = () => {
    if (!publicCache || Date.now() - publicCache.at > PUBLIC_CACHE_MS) {
      const value = makePublicStatus();
      publicCache = { at: Date.now(), value };
      value.catch(() => {
        if (publicCache?.value === value) publicCache = undefined;
      });
    }
    return publicCache.value;
  };
  const makePublicStatus = async () => {
    const checks = await publicChecks();
    const to = now();
    const [daily, incidents] = await Promise.all([
      Promise.all(checks.map((c) => options.history.dailyUptime(c.id, 90, to))),
      options.data.incidents({ checkIds: checks.map((c) => c.id), limit: 20, since: new Date(to.getTime() - 90 * DAY) }),
    ]);
    const names = new Map(checks.map((c) => [c.id, c.name]));
    return {
      at: to.toISOString(),
      checks: checks.map((c, i) => ({ ...c, days: daily[i]!.map((d) => ({ day: d.day, uptime: normalizeUptime(d.uptime) })) })),
      incidents: incidents.map((e) => ({ check: names.get(e.checkId) ?? String(e.checkId), checkId: e.checkId, to: e.to, at: e.at.toISOString() })),
    };
  };
  app.get('/status', async (request, reply) => {
    queryOf(request, []);
    return reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache').send(renderStatusPage(await publicStatus()));
  });
  app.get('/status.json', async (request) => {
    queryOf(request, []);
    const status = await publicStatus();
    return { ...status, checks: status.checks.map(({ id: _id, ...c }) => c), incidents: status.incidents.map(({ checkId: _c, ...i }) => i) };
  });
  app.get('/badge/:check/:kind', async (request, reply) => {
    queryOf(request, []);
    const { check: ref, kind } = request.params as { check: string; kind: string };
    const match = /^(status|uptime(?:-(24h|7d|30d|90d))?)\.svg$/.exec(kind);
    if (!match) throw new HttpError(400, `kind: expected status.svg, uptime.svg or uptime-24h|7d|30d|90d.svg, got ${show(kind)}`);
    if (ref.length > 64) throw new HttpError(400, `check: expected a public check's name or id, got ${show(ref)}`);
    const checks = await publicChecks();
    const check = checks.find((c) => c.name === ref || String(c.id) === ref);
    if (!check) throw new HttpError(404, `check: no public check ${show(ref)}`);
    let svg: string;
    if (match[1] === 'status') svg = badgeSvg(check.name, check.state, BADGE_COLORS[check.state as keyof typeof BADGE_COLORS] ?? BADGE_COLORS.unknown);
    else {
      const window = (match[2] ?? '30d') as Window;
      const value = check.uptime[window];
      svg = badgeSvg(`uptime ${window}`, formatUptime(value), uptimeColor(value));
    }
    return reply.type('image/svg+xml; charset=utf-8').header('Cache-Control', 'no-cache, max-age=0').send(svg);
  });

  await app.listen({ host: options.listen.host, port: options.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.listen.port;
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
  return {
    url: `http://${host}:${port}`,
    app,
    close: async () => {
      for (const reply of streams.keys()) reply.raw.end();
      await app.close();
    },
  };
}

/** `[web] public` entries (names or ids) resolved against the checks table; unknown ones are skipped. */
export function resolvePublic(entries: readonly string[], rows: readonly CheckRow[]): CheckRow[] {
  const out = new Map<number, CheckRow>();
  for (const entry of entries) {
    const e = entry.trim();
    const row = /^\d+$/.test(e) ? rows.find((r) => r.id === Number(e)) : rows.find((r) => r.name === e);
    if (row) out.set(row.id, row);
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

type Uptimes = Record<Window, number | null>;

/**
 * A check as the API gives it. With `at` (the single-check answer, the live stream) each
 * last result carries its age then, and the next run its wait; without (the list, whose
 * texts are kept) clients reckon ages from the results' `at`.
 */
/**
 * The round in progress of a pending check. The controller's status and the round decisions
 * on the bus arrive separately: a completed round newer than the status means the status's
 * turn is that round's, now over, so the round in progress is the next one and nobody in it
 * has agreed yet.
 */
function roundInProgress(c: CheckStatus, lastRound: CompletedRound | undefined): { round: number; agreeing: string[] } {
  const fromStatus = (c.rounds ?? 0) + 1;
  if (lastRound && lastRound.round >= fromStatus) return { round: lastRound.round + 1, agreeing: [] };
  return { round: fromStatus, agreeing: c.turn ?? [] };
}

function checkJson(c: CheckStatus, uptime: Uptimes | undefined, at: number | undefined, lastRound?: CompletedRound) {
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    state: c.state,
    status: c.status ?? null,
    pending:
      c.state === 'pending'
        ? { suspected: c.suspected, ...roundInProgress(c, lastRound), of: c.confirmations ?? null, rounds: c.of ?? null, lastRound: lastRound ?? null }
        : null,
    interval: c.interval ?? null,
    minRegions: c.minRegions ?? null,
    /** A partial outage in progress (some regions see it offline, others online): since, down, up. */
    partial: c.partial ?? null,
    ...(at !== undefined ? { nextRunInMs: c.nextRunInMs ?? null } : {}),
    problem: c.problem ?? null,
    lastResults: Object.entries(c.lastResults ?? {}).map(([worker, r]) => ({ worker, status: r.status, message: r.message, at: r.at, latencyMs: r.durationMs, ...(at !== undefined ? { ageMs: Math.max(0, at - Date.parse(r.at)) } : {}) })),
    uptime: uptime ?? { '24h': null, '7d': null, '30d': null, '90d': null },
  };
}

/**
 * Incidents: check_events rows, each with the transition line of the log that explains it
 * (same check, same direction, within 2 s: check_events keeps whole seconds) and the
 * notifications it owed.
 */
async function incidentsJson(options: WebServerOptions, query: { checkIds?: number[]; limit: number }, withEvidence: boolean) {
  const rows = await options.data.incidents(query);
  if (rows.length === 0) return [];
  const names = new Map<number, string>();
  for (const c of options.live.checks()) names.set(c.id, c.name);
  const missing = rows.some((r) => !names.has(r.checkId));
  if (missing) for (const c of await options.data.checks()) if (!names.has(c.id)) names.set(c.id, c.name);
  const times = rows.map((r) => r.at.getTime());
  const notifications = await options.data.notificationsAround([...new Set(rows.map((r) => r.checkId))], new Date(Math.min(...times) - 2000), new Date(Math.max(...times) + 2000), 1000);
  return rows.map((row: IncidentRow) => {
    const line = matchTransition(options.live.transitionsOf(row.checkId), row);
    const owed = notifications.filter((n) => n.checkId === row.checkId && n.status === row.to && Math.abs(Date.parse(n.transitionAt) - row.at.getTime()) <= 2000);
    return {
      id: row.id,
      checkId: row.checkId,
      check: names.get(row.checkId) ?? null,
      to: row.to,
      at: row.at.toISOString(),
      ...(withEvidence
        ? {
            evidence: line
              ? { from: line.from, rounds: line.rounds, delay: line.delay, confirmations: line.confirmations, pendingSince: line.pendingSince, results: line.evidence, explanation: explainTransition(line, names) }
              : null,
            notifications: owed,
          }
        : {}),
    };
  });
}

function matchTransition(lines: readonly TransitionLine[], row: IncidentRow): TransitionLine | undefined {
  let best: TransitionLine | undefined;
  let bestGap = 2001;
  for (const line of lines) {
    if (line.to !== row.to) continue;
    const gap = Math.abs(Date.parse(line.at) - row.at.getTime());
    if (gap < bestGap) {
      best = line;
      bestGap = gap;
    }
  }
  return best;
}

/** Uptime over 24 h, 7 d, 30 d and 90 d per check, asked of the history at most once a minute. */
class UptimeCache {
  private values = new Map<number, Uptimes>();
  private ids = new Set<number>();
  private at = 0;
  private loading: Promise<void> | undefined;
  version = 0;

  constructor(
    private readonly history: HistoryQuery,
    private readonly now: () => Date,
    private readonly log: Logger,
    private readonly maxAgeMs = 60_000,
    private readonly firstWaitMs = 2_000,
  ) {}

  cached(id: number): Uptimes | undefined {
    return this.values.get(id);
  }

  async forChecks(ids: number[]): Promise<{ values: Map<number, Uptimes>; version: number }> {
    const missing = ids.some((id) => !this.ids.has(id));
    const stale = Date.now() - this.at > this.maxAgeMs;
    if (missing) {
      for (const id of ids) this.ids.add(id);
      // A first load of many checks can take seconds: answer after at most `firstWaitMs`,
      // with the uptimes not yet known as null; they arrive with the next changes.
      const loading = this.load();
      await Promise.race([loading, new Promise((resolve) => setTimeout(resolve, this.firstWaitMs).unref())]);
    } else if (stale) void this.load(); // served from the cache meanwhile
    return { values: this.values, version: this.version };
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      const ids = [...this.ids];
      const to = this.now();
      try {
        const results = await Promise.all(
          (Object.keys(WINDOWS) as Window[]).map(async (w) => [w, await this.history.uptimes(ids, new Date(to.getTime() - WINDOWS[w]), to)] as const),
        );
        const next = new Map<number, Uptimes>();
        for (const id of ids) {
          const u = { '24h': null, '7d': null, '30d': null, '90d': null } as Uptimes;
          for (const [w, map] of results) u[w] = normalizeUptime(map.get(id) ?? null);
          next.set(id, u);
        }
        this.values = next;
        this.version += 1;
        this.at = Date.now();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'web: uptime history could not be read');
        this.at = Date.now();
      } finally {
        this.loading = undefined;
      }
      // Checks asked for while this load ran: load again with them.
      if (this.ids.size !== ids.length) await this.load();
    })();
    return this.loading;
  }
}

interface Asset {
  type: string;
  body: Buffer;
}

/** The front end: our own files and uPlot from node_modules, read once, served from memory. */
async function loadAssets(root: string): Promise<Map<string, Asset>> {
  const files: [string, string, string][] = [
    ['/assets/index.html', 'src/web/public/index.html', 'text/html; charset=utf-8'],
    ['/assets/app.js', 'src/web/public/app.js', 'text/javascript; charset=utf-8'],
    ['/assets/style.css', 'src/web/public/style.css', 'text/css; charset=utf-8'],
    ['/assets/uplot.js', 'node_modules/uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ['/assets/uplot.css', 'node_modules/uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
  ];
  const out = new Map<string, Asset>();
  for (const [path, file, type] of files) out.set(path, { type, body: await readFile(join(root, file)) });
  return out;
}

/** Pausing and resuming checks through the operator commands' repository writer (one transaction), then a reload request. */
export function createWebActions(deps: { session: import('../cli/manage-actions.ts').Session; nc: NatsConnection }): WebActions {
  return {
    setCheckEnabled: async (checkId, enabled) => {
      const row = await deps.session.write(async (current, write) => {
        const before = current.checks.find((c) => c.id === checkId);
        if (!before) throw Object.assign(new Error(`id: no check ${checkId}`), { exitCode: 2 });
        await write.updateCheck(before.id, { ...before, enabled });
        return before;
      });
      let controller: string;
      try {
        const reply = (await deps.nc.request(subject.control('reload'), '', { timeout: 5_000 })).json<{ ok: boolean; checks?: number; error?: string }>();
        controller = reply.ok ? `the controller reloaded: ${reply.checks} checks monitored` : `the controller could not reload: ${reply.error}`;
      } catch (err) {
        controller = `the controller was not told (${(err as Error).message}); it picks the change up at its next reload`;
      }
      return { id: row.id, name: row.name, enabled, controller };
    },
  };
}
