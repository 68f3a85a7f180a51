import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { hostPortSchema } from '../checks/address.ts';
import { parseDsn } from '../db/dsn.ts';
import { DEFAULT_REGION, REGION_PATTERN } from '../region.ts';
import { DURATION_MS, formatDuration, SIZE_BYTES, type DurationSuffix, type Unit } from './units.ts';

/**
 * Every configuration key: its type, default, and one line of documentation. This table
 * is the single source for parsing, validation, `bearmon config keys` and docs/OPERATIONS.md.
 * Keys are spelled as in gobearmon's config (camelCase); the file reader matches them
 * case-insensitively, as gcfg did.
 */
export interface KeySpec {
  schema: z.ZodType;
  /** Repeated `key =` lines collect into a list. */
  list?: boolean;
  /** Shown in docs; never printed with its value (passwords, tokens). */
  secret?: boolean;
  /** The value is a DSN or URL that may carry a password: printed with it masked (src/redact.ts). */
  credentials?: 'dsn' | 'url';
  /** A duration or size: how `config check`, `config keys` and docs/OPERATIONS.md show it (src/config/units.ts). */
  unit?: Unit;
  /** The default as documented, when the schema's is computed where bearmon runs (the host name). */
  defaultDoc?: string;
  /**
   * An invalid value does not stop start-up: it is dropped with a warning (the key keeps its
   * default or stays unset), because only some contacts need it. A text says what then fails.
   */
  lenient?: string | true;
  /**
   * gobearmon values bearmon reads differently: list entries that match are dropped with one
   * warning per key that says why (`reason`); the other entries are kept.
   */
  ignoreValues?: { match: RegExp; what: string; reason: string };
  doc: string;
}
/** gobearmon keys bearmon no longer needs: accepted with a warning that says why. */
export type DeprecatedKey = { deprecated: string };

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected an integer' : undefined) })
    .int('expected an integer')
    .min(min, `expected at least ${min}`)
    .max(max, `expected at most ${max}`);
const bool = z
  .string()
  .transform((v) => v.toLowerCase())
  .pipe(z.enum(['true', 'false', 'yes', 'no', 'on', 'off', '1', '0'], { error: 'expected true or false' }))
  .transform((v) => ['true', 'yes', 'on', '1'].includes(v));
/** A number (not only integers), such as a ratio; its bounds are added with gt/min/lt/max. */
const number = z.coerce.number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected a number' : undefined) });
/** A region or site name (src/region.ts). */
const region = z.string().regex(REGION_PATTERN, 'expected 1-32 lower-case letters, digits, _ or -, starting with a letter or digit');
const text = z.string();
const optionalText = z.string().optional();
const ipAddress = z.string().refine((v) => isIP(v) !== 0, 'expected an IP address');
/** A size written with its unit (`512MB`, `1GB`; a bare `0` too, as "no limit" reads), kept in bytes. */
const byteSize = z
  .string()
  .regex(/^(\d+(B|KB|MB|GB|TB)|0)$/i, 'expected a size such as 512MB or 1GB')
  .transform((v) => (v === '0' ? 0 : Number(v.replace(/\D+$/, '')) * SIZE_BYTES[v.replace(/^\d+/, '').toUpperCase() as keyof typeof SIZE_BYTES]));
/** A duration written with its unit (`500ms`, `30s`, `15m`, `12h`, `7d`), kept in milliseconds. */
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 15m, 12h or 7d')
  .transform((v) => {
    const [, amount, suffix] = /^(\d+)(ms|s|m|h|d)$/.exec(v)!;
    return Number(amount) * DURATION_MS[suffix as DurationSuffix];
  });
/**
 * A duration kept as a whole number of `unit`: a bare number is that unit (the key's form
 * before durations had suffixes), and `500ms`, `90s`, `15m`… are read as well.
 */
const durationIn = (unit: 'ms' | 's', min: number, max: number) =>
  z.string().transform((v, ctx) => {
    const issue = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    const match = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
    if (!match) return issue(`expected a duration such as ${unit === 's' ? '60 (seconds), 90s or 15m' : '500 (milliseconds), 500ms or 2s'}`);
    const ms = Number(match[1]) * DURATION_MS[(match[2] ?? unit) as DurationSuffix];
    const value = ms / DURATION_MS[unit];
    if (!Number.isSafeInteger(value)) return issue(`expected whole ${unit === 's' ? 'seconds' : 'milliseconds'}`);
    if (value < min) return issue(`expected at least ${formatDuration(min * DURATION_MS[unit])}`);
    if (value > max) return issue(`expected at most ${formatDuration(max * DURATION_MS[unit])}`);
    return value;
  });
/**
 * What happens when a [twilio] or [smtp] value is dropped (KeySpec.lenient): every key of
 * those sections that can be invalid is lenient (free text cannot be), because only the
 * contacts and mails that use them need them — monitoring must not wait for a placeholder.
 */
const TWILIO_LENIENT = 'sms and voice contacts fail when sent, saying Twilio is not configured';
const SMTP_LENIENT = 'e-mail contacts and admin mails may fail when sent';

/** A DSN that parseDsn refuses; its message shows the DSN with the password masked. */
function validDsn(dsn: string, ctx: z.RefinementCtx): void {
  try {
    parseDsn(dsn);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}

export const DEFAULT_DATABASE = 'bearmon:bearmon@tcp(127.0.0.1:3306)/bearmon';

export const configSpec = {
  default: {
    debug: { schema: bool.default(false), doc: 'Log at debug level (same as logLevel = debug).' },
    logLevel: {
      schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      doc: 'Minimum level of the log lines written to stderr (JSON, or text on a terminal).',
    },
    password: { deprecated: 'bearmon authenticates with NATS credentials ([nats] user/password); the shared password is ignored' },
    metricsListen: {
      schema: hostPortSchema(9464).optional(),
      doc: 'host:port where workers and the viewserver serve Prometheus metrics at GET /metrics (port 9464 by default; unset: no metrics server).',
    },
  },
  controller: {
    database: {
      schema: z.array(text.min(1).superRefine(validDsn)).min(1).default([DEFAULT_DATABASE]),
      list: true,
      credentials: 'dsn',
      doc: 'MySQL DSN in go-sql-driver form user:pass@tcp(host:port)/db (or a mysql:// URL). Repeat for a cluster: a failed query is retried on another.',
    },
    confirmations: { schema: int(1, 100).default(2), doc: 'Distinct workers that must agree before a check changes state.' },
    reloadInterval: { schema: durationIn('s', 1, 86400).default(60), unit: 's', doc: 'How often checks, contacts and alerts are reloaded from MySQL.' },
    checkDurations: {
      schema: bool.default(true),
      doc: 'Export bearmon_check_duration_seconds (a histogram per check and worker). At 10,000 checks × 3 workers one scrape costs ≈ 0.85 s of the controller\'s CPU: false turns it off (bearmon_check_up and bearmon_check_state stay).',
    },
    snapshotInterval: {
      schema: duration.prefault('1m'),
      unit: 'duration',
      doc: 'How often the controller process stores a snapshot of the log state (stream BEARMON_SNAPSHOTS, under this worker\'s name), so a cold start folds only the log after it. 0s: no snapshots.',
    },
    notifyAttempts: { schema: int(1, 100).default(8), doc: 'Attempts at one notification (first send + retries) before it finally fails and the admin is told.' },
    notifyBackoff: { schema: duration.prefault('30s'), unit: 'duration', doc: 'Wait before the first retry of a failed notification; doubles with each further failure.' },
    notifyBackoffMax: { schema: duration.prefault('30m'), unit: 'duration', doc: 'Longest wait between two attempts at one notification.' },
    notifyTimeout: {
      schema: duration.prefault('60s'),
      unit: 'duration',
      doc: 'Deadline of one delivery attempt. An attempt a dead controller left unrecorded for twice this is not resent (webhooks are: they carry an Idempotency-Key).',
    },
    stormWindow: {
      schema: duration.prefault('10s'),
      unit: 'duration',
      doc: 'Storm grouping: a first notification waits this long after its transition, and the ones of the same contact whose transitions fall within it go as one message listing every check (when there are stormThreshold or more).',
    },
    stormThreshold: {
      schema: int(0, 1_000_000).default(5),
      doc: 'Storm grouping: this many notifications of one contact within stormWindow go as one message. 0: off (every notification is sent at once, on its own).',
    },
    quarantine: {
      schema: z.enum(['off', 'flag', 'exclude'], { error: 'expected off, flag or exclude' }).default('flag'),
      doc: 'What the controller does with a worker whose verdicts keep contradicting the others\' (see probeThreshold): off: nothing; flag: it is logged and shown as flagged; exclude: flagged, and its votes stop counting (it gets only audit runs) until released.',
    },
    probeWindow: {
      schema: duration.prefault('10m'),
      unit: 'duration',
      doc: 'Quarantine: the controller scores every worker by how often its verdicts contradict the verdict the others reach, over this window.',
    },
    probeMinSamples: { schema: int(1, 1_000_000).default(20), doc: 'Quarantine: verdicts a worker must have within probeWindow before it can be flagged or released.' },
    probeThreshold: {
      schema: number.gt(0, 'expected more than 0').max(1, 'expected at most 1').default(0.5),
      doc: 'Quarantine: a worker whose contradiction ratio (contradicting verdicts / verdicts in probeWindow) reaches this is flagged (0 < value ≤ 1).',
    },
    probeRelease: {
      schema: number.min(0, 'expected at least 0').lt(1, 'expected less than 1').default(0.2),
      doc: 'Quarantine: a flagged worker is released when its contradiction ratio falls to this or below (0 ≤ value < 1, and less than probeThreshold).',
    },
    addr: { deprecated: 'workers and the viewserver reach the controller over NATS' },
  },
  worker: {
    id: {
      schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, _ or -').default(safeHostname()),
      defaultDoc: '(the host name)',
      doc: 'This worker\'s identity (it appears in NATS subjects; default: the host name).',
    },
    numThreads: { schema: int(1, 4096).default(16), doc: 'Checks this worker runs at the same time.' },
    controller: {
      schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a worker id').optional(),
      doc: 'Only without a viewserver: the worker id of the process run with --controller, whose run requests this worker obeys. Under a viewserver leave it unset: the view names the controller.',
    },
    sourceAddress: { schema: ipAddress.optional(), doc: 'Local address that outgoing checks bind to (multi-homed probes).' },
    region: {
      schema: region.default(DEFAULT_REGION),
      doc: 'Where this worker runs (a data centre, a cloud region): sent with its heartbeats and results; checks may ask for a change to be seen from several regions. Workers that name none are all one region, default.',
    },
    site: { schema: region.optional(), doc: 'A finer place within the region (a rack, an availability zone): sent with heartbeats and results, only reported.' },
    viewAddr: { deprecated: 'workers learn the view from NATS ([nats] url)' },
  },
  smtp: {
    host: { schema: optionalText, doc: 'SMTP server for e-mail contacts and admin notices.' },
    port: { schema: int(1, 65535).default(587), lenient: SMTP_LENIENT, doc: 'SMTP server port (587 = submission with STARTTLS).' },
    from: { schema: optionalText, doc: 'Sender address of notification mails.' },
    username: { schema: optionalText, doc: 'SMTP user (optional).' },
    password: { schema: optionalText, secret: true, doc: 'SMTP password (optional; never logged).' },
    admin: { schema: optionalText, doc: 'Address that receives admin notices (failed deliveries, lost quorum, reload failures).' },
    adminInterval: { schema: duration.prefault('15m'), unit: 'duration', lenient: true, doc: 'The same admin notice is mailed at most once per this interval; the next mail counts what was held back.' },
  },
  dns: {
    server: {
      schema: hostPortSchema(53).transform(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).default('127.0.0.1:53'),
      doc: 'Resolver for dns checks that name no server: host[:port], port 53 by default.',
    },
  },
  twilio: {
    accountSid: {
      schema: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'expected AC followed by 32 hex digits').optional(),
      lenient: TWILIO_LENIENT,
      doc: 'Twilio account SID for sms and voice contacts.',
    },
    authToken: { schema: optionalText, secret: true, doc: 'Twilio auth token (never logged).' },
    from: { schema: z.string().regex(/^\+[1-9]\d{1,14}$/, 'expected an E.164 number such as +15551234567').optional(), lenient: TWILIO_LENIENT, doc: 'Twilio number that SMS and calls come from (E.164).' },
  },
  viewserver: {
    controller: {
      schema: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a worker id')).default([]),
      list: true,
      // gobearmon listed the address of each worker's controller component, its candidates. bearmon
      // finds candidates by their heartbeats; reading the host as a worker id would, when ids are
      // not host names, leave no candidate at all and stop monitoring, so the addresses are dropped.
      ignoreValues: {
        match: /:\d+$/,
        what: 'host:port',
        reason:
          'bearmon picks the controller among the workers that answer its heartbeats over NATS (any that nats.conf lets control), so gobearmon\'s controller addresses are not needed; to limit the candidates, list worker ids (controller = w1)',
      },
      doc: 'Worker ids allowed to act as controller (repeat the line). Empty: any worker that announces itself. gobearmon\'s host:port entries are ignored with a warning.',
    },
    heartbeatPeriod: {
      schema: durationIn('ms', 50, 60_000).default(1000),
      unit: 'ms',
      doc: 'Time between the viewserver\'s pings of each controller candidate.',
    },
    heartbeatTimeout: {
      schema: durationIn('ms', 10, 60_000).default(500),
      unit: 'ms',
      doc: 'Time a ping waits for its answer before it counts as a miss (no responders counts at once).',
    },
    misses: {
      schema: int(1, 100).default(3),
      doc: 'Consecutive unanswered pings (timeouts) after which the controller is replaced; a controller whose process is gone ("no responders") is replaced at once.',
    },
    addr: { deprecated: 'the viewserver talks over NATS' },
  },
  nats: {
    url: {
      schema: z.array(z.string().regex(/^(nats|tls|ws|wss):\/\/\S+$/, 'expected a URL such as nats://127.0.0.1:4222')).min(1).default(['nats://127.0.0.1:4222']),
      list: true,
      credentials: 'url',
      doc: 'NATS server URL; repeat for a cluster.',
    },
    user: { schema: optionalText, doc: 'NATS user name of this process\'s role (see nats.conf).' },
    password: { schema: optionalText, secret: true, doc: 'NATS password (never logged).' },
    replicas: {
      schema: int(1, 5).optional(),
      defaultDoc: '3 when url lists three or more servers, else 1',
      doc: 'Copies JetStream keeps of the result log, the snapshots and the view\'s bucket (`bearmon setup` makes them so); more than 1 needs that many clustered servers (docs/CLUSTER.md).',
    },
    stream: { schema: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default('BEARMON'), doc: 'JetStream stream that keeps the result log.' },
    retention: { schema: duration.prefault('7d'), unit: 'duration', doc: 'How long the result log keeps events (30s, 15m, 12h, 7d).' },
    maxBytes: {
      schema: byteSize.prefault('1GB'),
      unit: 'size',
      doc: 'Storage the result log may use (512MB, 1GB, …), reserved on the server: a flood into the log drops its oldest events, never the view\'s bucket or the snapshots. 0: no limit.',
    },
  },
  web: {
    listen: {
      schema: hostPortSchema(8080).default({ host: '127.0.0.1', port: 8080 }),
      defaultDoc: '127.0.0.1:8080',
      doc: 'host:port where `bearmon web` serves the dashboard, its JSON API and the public status page.',
    },
    user: { schema: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'expected 1-64 letters, digits, _ . @ or -').default('admin'), doc: 'Login name for the dashboard and the API.' },
    passwordHash: {
      schema: z.string().regex(/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/, 'expected a bcrypt hash made by `bearmon web hash-password`').optional(),
      secret: true,
      doc: 'bcrypt hash of the dashboard password (`bearmon web hash-password`). Unset: nobody can log in; the status page still works.',
    },
    public: {
      schema: z.array(z.string().min(1).max(64)).default([]),
      list: true,
      doc: 'A check shown on the public status page /status, by name or id (repeat the line). Only its name, state and uptime are shown, never its data.',
    },
    sessionTtl: { schema: duration.prefault('12h'), unit: 'duration', doc: 'How long a dashboard login lasts without use.' },
  },
} as const satisfies Record<string, Record<string, KeySpec | DeprecatedKey>>;

/** [nats] replicas as set, or its default: 3 on a cluster of three or more listed servers, else 1. */
export function natsReplicas(nats: { url: string[]; replicas?: number }): number {
  return nats.replicas ?? (nats.url.length >= 3 ? 3 : 1);
}

/** The quarantine scoring settings of [controller] (probeWindow…probeRelease) as one object, probeWindow in ms. */
export function probeSettings(controller: { probeWindow: number; probeMinSamples: number; probeThreshold: number; probeRelease: number }) {
  return { windowMs: controller.probeWindow, minSamples: controller.probeMinSamples, threshold: controller.probeThreshold, release: controller.probeRelease };
}

function safeHostname(): string {
  const name = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return name || 'worker';
}

type Spec = typeof configSpec;
type SectionOutput<S> = {
  -readonly [K in keyof S as S[K] extends KeySpec ? K : never]: S[K] extends { schema: infer Z extends z.ZodType } ? z.output<Z> : never;
};
export type Config = { -readonly [S in keyof Spec]: SectionOutput<Spec[S]> };
