import { resolve } from 'node:path';
import { describeKeys, showConfig } from '../config/load.ts';
import { DEFAULT_CONFIG_PATHS, readCommandConfig } from './config.ts';
import { EXIT } from './exit-codes.ts';
import { renderTable } from './table.ts';

interface Output {
  write(text: string): unknown;
}

export interface ConfigCommandIo {
  env?: NodeJS.ProcessEnv;
  stdout?: Output;
  stderr?: Output;
}

/**
 * `bearmon config check`: loads the configuration as every command does (--config, else
 * $BEARMON_CONFIG, else ./bearmon.cfg or /etc/bearmon/bearmon.cfg; BEARMON_* variables over
 * it) and prints the effective values as one JSON object on stdout, so it can be piped into
 * jq: `source` (the file read, absolute; null when none), `environment` (the variables that
 * set a key), then every section, secrets masked and durations and sizes as written (`1m`,
 * `500ms`, `7d`, `1GB`). What it read, and every warning, go to stderr: a gobearmon file
 * passes, but not silently. Returns the exit code: 0, or 78 (EXIT.config) with every
 * problem on stderr and nothing on stdout.
 */
export function configCheckCommand(explicitPath: string | undefined, io: ConfigCommandIo = {}): number {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const { path, loaded, error } = readCommandConfig(explicitPath, env);
  if (error) {
    stderr.write(`bearmon: ${error.message}\n`);
    return EXIT.config;
  }
  const source = path === undefined ? null : resolve(path);
  stderr.write(source ? `read ${source}\n` : `no configuration file (no --config, no $BEARMON_CONFIG, none of ${DEFAULT_CONFIG_PATHS.join(', ')}): built-in defaults\n`);
  if (loaded.environment.length > 0) stderr.write(`environment: ${loaded.environment.join(', ')}\n`);
  for (const warning of loaded.warnings) stderr.write(`warning: ${warning}\n`);
  stdout.write(`${JSON.stringify({ source, environment: loaded.environment, ...showConfig(loaded.config) }, null, 2)}\n`);
  return 0;
}

/**
 * `bearmon config keys [--json]`: every key with its default (as it would be written), unit,
 * environment variable and meaning — a table, or with --json one object per line
 * (src/config/load.ts KeyDescription). Needs no configuration. Returns the exit code (0).
 */
export function configKeysCommand(options: { json?: boolean }, io: Pick<ConfigCommandIo, 'stdout'> = {}): number {
  const stdout = io.stdout ?? process.stdout;
  const keys = describeKeys();
  if (options.json) {
    stdout.write(keys.map((k) => `${JSON.stringify(k)}\n`).join(''));
    return 0;
  }
  stdout.write(configKeysTable(keys));
  return 0;
}

/** The key table of `config keys`, one row per key; the meaning last, whole. */
export function configKeysTable(keys = describeKeys()): string {
  const rows = keys.map((k) => [`[${k.section}] ${k.key}${k.list ? ' (repeatable)' : ''}`, k.default, k.unit, k.env, k.doc]);
  return `${renderTable(['KEY', 'DEFAULT', 'UNIT', 'ENVIRONMENT', 'MEANING'], rows)}\n`;
}
