import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { redactValue } from '../redact.ts';
import { showValue } from '../validation.ts';
import { parseGcfg, ConfigSyntaxError } from './gcfg.ts';
import { configSpec, type Config, type DeprecatedKey, type KeySpec } from './schema.ts';

/** Environment variables bearmon reads itself (not configuration keys). */
const NON_KEY_ENV = new Set(['BEARMON_CONFIG']);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export interface LoadedConfig {
  config: Config;
  /** Keys accepted but ignored (gobearmon settings that no longer apply), unknown env vars. */
  warnings: string[];
}

export interface LoadOptions {
  /** Configuration text (gcfg/INI) and where it came from, for messages. */
  text?: string;
  source?: string;
  /** Environment: BEARMON_<SECTION>_<KEY> overrides the file (lists are comma-separated). */
  env?: Record<string, string | undefined>;
}

type RawValue = { value: string | string[]; origin: string };
type Raw = Record<string, Record<string, RawValue>>;

const isDeprecated = (spec: KeySpec | DeprecatedKey): spec is DeprecatedKey => 'deprecated' in spec;
const sections = () => Object.entries(configSpec) as [string, Record<string, KeySpec | DeprecatedKey>][];

function canonicalKey(section: string, key: string): string | undefined {
  const keys = Object.keys(configSpec[section as keyof typeof configSpec] ?? {});
  return keys.find((k) => k.toLowerCase() === key.toLowerCase());
}

/** Loads, merges and validates configuration. Throws ConfigError naming every bad key. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw: Raw = {};
  readFileEntries(options, raw, problems, warnings);
  readEnv(options.env ?? {}, raw, warnings);
  const config = validate(raw, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config as Config, warnings };
}

export function loadConfigFile(path: string, env: Record<string, string | undefined> = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${path}: ${(err as Error).message}`]);
  }
  return loadConfig({ text, source: path, env });
}

function readFileEntries(options: LoadOptions, raw: Raw, problems: string[], warnings: string[]): void {
  if (options.text === undefined) return;
  const source = options.source ?? 'config';
  let entries;
  try {
    entries = parseGcfg(options.text);
  } catch (err) {
    if (err instanceof ConfigSyntaxError) return void problems.push(`${source} ${err.message}`);
    throw err;
  }
  for (const entry of entries) {
    const where = `${source}:${entry.line}`;
    const sectionSpec = configSpec[entry.section as keyof typeof configSpec] as Record<string, KeySpec | DeprecatedKey> | undefined;
    if (!sectionSpec) {
      problems.push(`${where}: unknown section [${entry.section}]`);
      continue;
    }
    const key = canonicalKey(entry.section, entry.key);
    if (!key) {
      problems.push(`${where}: [${entry.section}] ${entry.key}: unknown key`);
      continue;
    }
    const spec = sectionSpec[key]!;
    if (isDeprecated(spec)) {
      warnings.push(`${where}: [${entry.section}] ${key} is ignored: ${spec.deprecated}`);
      continue;
    }
    const section = (raw[entry.section] ??= {});
    const previous = section[key];
    if (spec.list) {
      const values = previous ? (previous.value as string[]) : [];
      section[key] = { value: [...values, entry.value], origin: where };
    } else if (previous) {
      problems.push(`${where}: [${entry.section}] ${key} is set twice (also at ${previous.origin})`);
    } else {
      section[key] = { value: entry.value, origin: where };
    }
  }
}

function readEnv(env: Record<string, string | undefined>, raw: Raw, warnings: string[]): void {
  const known = new Set<string>();
  for (const [section, keys] of sections()) {
    for (const [key, spec] of Object.entries(keys)) {
      const name = `BEARMON_${section.toUpperCase()}_${key.toUpperCase()}`;
      known.add(name);
      const value = env[name];
      if (value === undefined) continue;
      if (isDeprecated(spec)) {
        warnings.push(`environment variable ${name} is ignored: ${spec.deprecated}`);
        continue;
      }
      (raw[section] ??= {})[key] = {
        value: spec.list ? value.split(',').map((v) => v.trim()).filter(Boolean) : value,
        origin: `env ${name}`,
      };
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('BEARMON_') && !known.has(name) && !NON_KEY_ENV.has(name)) {
      warnings.push(`environment variable ${name} is not a bearmon setting and is ignored`);
    }
  }
}

function validate(raw: Raw, problems: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of sections()) {
    const values: Record<string, unknown> = (out[section] = {});
    for (const [key, spec] of Object.entries(keys)) {
      if (isDeprecated(spec)) continue;
      const given = raw[section]?.[key];
      const parsed = (spec.schema as z.ZodType).safeParse(given?.value);
      if (parsed.success) {
        values[key] = parsed.data;
        continue;
      }
      // Secrets as ***, DSNs and URLs without their password (the reason names them the same way).
      const shown = showValue(redactValue(spec, given?.value));
      const reason = parsed.error.issues.map((i) => i.message).join('; ');
      problems.push(`${given?.origin ?? 'default'}: [${section}] ${key} = ${shown}: ${reason}`);
    }
  }
  return out;
}

/** The documented key table, for `bearmon config keys` and the README. */
export function describeKeys(): { section: string; key: string; doc: string; list: boolean; deprecated: boolean }[] {
  return sections().flatMap(([section, keys]) =>
    Object.entries(keys).map(([key, spec]) => ({
      section,
      key,
      doc: isDeprecated(spec) ? `gobearmon key, ignored: ${spec.deprecated}.` : spec.doc,
      list: !isDeprecated(spec) && Boolean(spec.list),
      deprecated: isDeprecated(spec),
    })),
  );
}
