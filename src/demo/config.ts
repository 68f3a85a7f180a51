import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { loadCommandConfig } from '../cli/config.ts';
import { loadConfig } from '../config/load.ts';
import { configSpec, type Config, type DeprecatedKey, type KeySpec } from '../config/schema.ts';
import { formatUnit } from '../config/units.ts';
import { developmentPassword } from '../bus/permissions.ts';
import { createLogger, type Logger } from '../log.ts';

/** The demo's database on the local MariaDB (the user scripts/ensure-env.sh creates): the demo drops and recreates it. */
export const DEMO_DATABASE = 'bearmon_demo';
export const DEMO_DSN = `bearmon:bearmon@tcp(127.0.0.1:3306)/${DEMO_DATABASE}`;
/** The demo's result log, on the demo's own nats-server. */
export const DEMO_STREAM = 'BEARMON_DEMO';
export const DEMO_WORKERS = ['demo-w1', 'demo-w2', 'demo-w3'];
/** The NATS user the demo's configuration file names: what every command in its banner needs, nothing more. */
export const DEMO_OPERATOR = 'operator';

/**
 * Where the demo keeps what it owns (its configuration file, JetStream store, nats-server
 * log, pid file): $XDG_STATE_HOME/bearmon-demo, by default ~/.local/state/bearmon-demo.
 * Outside the checkout, so it works from an installed package and never shows in git.
 */
export function demoStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return resolve(base, 'bearmon-demo');
}

/**
 * The settings `bearmon start` begins from: those of the file `-c` names, else the built-in
 * defaults. Never $BEARMON_CONFIG, ./bearmon.cfg, /etc/bearmon/bearmon.cfg or BEARMON_*
 * variables: on a production host those name the production bus and database, and the
 * demo must not even read them. An invalid file stops it with exit code 78, as any command.
 */
export function demoBaseConfig(explicitPath: string | undefined): { config: Config; log: Logger } {
  if (explicitPath !== undefined) return loadCommandConfig(explicitPath, {});
  const { config } = loadConfig({});
  return { config, log: createLogger({ level: config.default.logLevel }) };
}

/**
 * The demo's configuration: `base` with everything that names a bus, a database or an
 * identity replaced by the demo's own (its nats-server, stream and database, its workers
 * as the only controller candidates, confirmations 2 so that its three workers can move a
 * check, no metrics port that three workers would fight over). The rest of `base` (SMTP,
 * Twilio, notification back-off, log level, …) is kept.
 */
export function demoConfig(base: Config, own: { natsUrl: string }): Config {
  const defaults = loadConfig({}).config;
  return {
    ...base,
    default: { ...base.default, metricsListen: undefined },
    controller: { ...base.controller, database: [DEMO_DSN], confirmations: 2, reloadInterval: 10 },
    worker: { ...base.worker, id: defaults.worker.id, controller: undefined, sourceAddress: undefined },
    viewserver: { ...base.viewserver, controller: [...DEMO_WORKERS] },
    nats: { ...defaults.nats, url: [own.natsUrl], user: DEMO_OPERATOR, password: developmentPassword(DEMO_OPERATOR), stream: DEMO_STREAM },
  };
}

const isDeprecated = (spec: KeySpec | DeprecatedKey): spec is DeprecatedKey => 'deprecated' in spec;

/** gcfg quoting (src/config/gcfg.ts reads it back): every value quoted, so `;`, `#` and spaces survive. */
const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;

/**
 * One value as the file would spell it: a duration or size as people write it (the key's
 * unit, src/config/units.ts), anything else as it prints. It is parsed back with the key's
 * own schema: a key added later with a new kind of value fails here, loudly, instead of
 * being written wrong.
 */
function spell(section: string, key: string, spec: KeySpec, value: unknown): string {
  const candidate = String(spec.unit ? formatUnit(value, spec.unit) : value);
  const parsed = (spec.schema as z.ZodType).safeParse(spec.list ? [candidate] : candidate);
  const back = parsed.success ? (spec.list ? (parsed.data as unknown[])[0] : parsed.data) : undefined;
  if (parsed.success && back === value) return `${key} = ${quote(candidate)}`;
  throw new Error(`[${section}] ${key} = ${JSON.stringify(value)}: cannot be written into the demo's configuration file`);
}

/** A configuration as a file `loadConfigFile` reads back to the same values; keys at their default are left out. */
export function renderConfig(config: Config, header: string[] = []): string {
  const defaults = loadConfig({}).config as unknown as Record<string, Record<string, unknown>>;
  const values = config as unknown as Record<string, Record<string, unknown>>;
  const lines = header.map((line) => `# ${line}`.trimEnd());
  for (const [section, keys] of Object.entries(configSpec) as [string, Record<string, KeySpec | DeprecatedKey>][]) {
    const body: string[] = [];
    for (const [key, spec] of Object.entries(keys)) {
      if (isDeprecated(spec)) continue;
      const value = values[section]?.[key];
      if (value === undefined || JSON.stringify(value) === JSON.stringify(defaults[section]?.[key])) continue;
      for (const item of spec.list ? (value as unknown[]) : [value]) body.push(spell(section, key, spec, item));
    }
    if (body.length > 0) lines.push('', `[${section}]`, ...body);
  }
  return `${lines.join('\n')}\n`;
}
