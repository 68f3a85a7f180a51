import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, loadConfigFile, type LoadedConfig } from '../config/load.ts';
import { lazyLogger, type Logger } from '../log.ts';
import { installEpipeHandler } from './epipe.ts';
import type { Config } from '../config/schema.ts';

/** Exit status when configuration is invalid (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;
export const DEFAULT_CONFIG_PATHS = ['bearmon.cfg', '/etc/bearmon/bearmon.cfg'];

/**
 * Loads configuration for a command: --config, else $BEARMON_CONFIG, else the first
 * default path that exists, else built-in defaults; environment variables override.
 * Refuses to go on when anything is invalid, printing every problem.
 */
export function loadCommandConfig(explicitPath: string | undefined, env: NodeJS.ProcessEnv = process.env): { config: Config; log: Logger } {
  // Every command that loads configuration may write to a pipe its reader closes early
  // (`bearmon log export | head`): it ends quietly (main.ts installs this too, for the rest).
  installEpipeHandler();
  const { path, loaded, error } = readCommandConfig(explicitPath, env);
  if (error) {
    process.stderr.write(`bearmon: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const { config, warnings } = loaded;
  // Made on first use: a command that logs nothing does not load pino (start-up of `bearmon check list`).
  const log = lazyLogger({ level: config.default.debug ? 'debug' : config.default.logLevel });
  for (const warning of warnings) log.warn({ configFile: path }, warning);
  return { config, log };
}

/** The configuration a command reads (configPath), or the ConfigError naming every problem in it. */
export function readCommandConfig(
  explicitPath: string | undefined,
  env: NodeJS.ProcessEnv,
): { path: string | undefined; loaded: LoadedConfig; error?: undefined } | { path: string | undefined; loaded?: undefined; error: ConfigError } {
  const path = configPath(explicitPath, env);
  try {
    return { path, loaded: path ? loadConfigFile(path, env) : loadConfig({ env }) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { path, error: err };
  }
}

/** The file a command reads: --config, else $BEARMON_CONFIG, else the first default path that exists; undefined: none (built-in defaults). */
export function configPath(explicitPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return explicitPath ?? env.BEARMON_CONFIG ?? DEFAULT_CONFIG_PATHS.find((p) => existsSync(p));
}
