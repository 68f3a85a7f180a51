import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { redactValue } from '../redact.ts';
import { showValue } from '../validation.ts';
import { parseGcfg, ConfigSyntaxError } from './gcfg.ts';
import { configSpec, type Config, type DeprecatedKey, type KeySpec } from './schema.ts';
import { describeUnit, formatUnit } from './units.ts';

/** Environment variables bearmon reads itself (not configuration keys). */
const NON_KEY_ENV = new Set(['BEARMON_CONFIG']);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export interface LoadedConfig {
  config: Config;
  /**
   * Keys accepted but ignored (gobearmon settings that no longer apply), gobearmon values
   * read differently, invalid [smtp]/[twilio] values dropped, a file without [nats], unknown
   * env vars.
   */
  warnings: string[];
  /** The BEARMON_<SECTION>_<KEY> variables that set a key, in key-table order. */
  environment: string[];
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

/** The environment variable of a key. */
export const envName = (section: string, key: string) => `BEARMON_${section.toUpperCase()}_${key.toUpperCase()}`;

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
  const environment = readEnv(options.env ?? {}, raw, warnings);
  // A file without any [nats] setting (as every gobearmon file is) would silently talk to a
  // local server without credentials. Without a file at all the defaults are meant (npm start).
  if (options.text !== undefined && raw.nats === undefined) {
    warnings.push(
      `${options.source ?? 'config'} has no [nats] section: bearmon connects to ${configSpec.nats.url.schema.parse(undefined).join(', ')} without credentials; set [nats] url, user and password (bearmon nats-conf prints them for each node)`,
    );
  }
  const config = validate(raw, problems, warnings);
  crossCheck(config, raw, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config as Config, warnings, environment };
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
  const dropped = new Map<string, { section: string; key: string; lines: number[]; values: string[]; spec: KeySpec }>();
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
    if (spec.ignoreValues?.match.test(entry.value)) {
      const hits = dropped.get(`${entry.section}.${key}`) ?? { section: entry.section, key, lines: [], values: [], spec };
      hits.lines.push(entry.line);
      hits.values.push(entry.value);
      dropped.set(`${entry.section}.${key}`, hits);
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
  // One warning per key, however many lines: gobearmon's sample lists five controllers.
  for (const { section, key, lines, values, spec } of dropped.values()) {
    warnings.push(`${source}:${lines.join(',')}: ${ignoredValuesWarning(section, key, values, spec)}`);
  }
}

function ignoredValuesWarning(section: string, key: string, values: string[], spec: KeySpec): string {
  const what = `${spec.ignoreValues!.what} ${values.length === 1 ? 'value' : 'values'}`;
  return `[${section}] ${key} = ${values.join(', ')}: ${what} ${values.length === 1 ? 'is' : 'are'} ignored: ${spec.ignoreValues!.reason}`;
}

function readEnv(env: Record<string, string | undefined>, raw: Raw, warnings: string[]): string[] {
  const known = new Set<string>();
  const used: string[] = [];
  for (const [section, keys] of sections()) {
    for (const [key, spec] of Object.entries(keys)) {
      const name = envName(section, key);
      known.add(name);
      const value = env[name];
      if (value === undefined) continue;
      if (isDeprecated(spec)) {
        warnings.push(`environment variable ${name} is ignored: ${spec.deprecated}`);
        continue;
      }
      used.push(name);
      let values = spec.list ? value.split(',').map((v) => v.trim()).filter(Boolean) : value;
      if (Array.isArray(values) && spec.ignoreValues) {
        const ignored = values.filter((v) => spec.ignoreValues!.match.test(v));
        if (ignored.length > 0) warnings.push(`env ${name}: ${ignoredValuesWarning(section, key, ignored, spec)}`);
        values = values.filter((v) => !spec.ignoreValues!.match.test(v));
      }
      (raw[section] ??= {})[key] = { value: values, origin: `env ${name}` };
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('BEARMON_') && !known.has(name) && !NON_KEY_ENV.has(name)) {
      warnings.push(`environment variable ${name} is not a bearmon setting and is ignored`);
    }
  }
  return used;
}

function validate(raw: Raw, problems: string[], warnings: string[]): Record<string, Record<string, unknown>> {
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
      const problem = `${given?.origin ?? 'default'}: [${section}] ${key} = ${shown}: ${reason}`;
      if (given && spec.lenient) {
        // Only some contacts need it: monitoring starts, and those contacts fail when sent.
        const fallback = (spec.schema as z.ZodType).parse(undefined);
        values[key] = fallback;
        const instead = fallback === undefined ? 'left unset' : `the default ${showValue(presented(spec, fallback))} is used`;
        warnings.push(`${problem}; ignored, ${instead}${spec.lenient === true ? '' : `: ${spec.lenient}`}`);
        continue;
      }
      problems.push(problem);
    }
  }
  return out;
}

/** Rules between keys, once each key is valid on its own; a problem names every key involved. */
function crossCheck(config: Record<string, Record<string, unknown>>, raw: Raw, problems: string[]): void {
  const { probeThreshold, probeRelease } = config.controller as { probeThreshold?: number; probeRelease?: number };
  // Released at or above the threshold, a worker would be flagged and released by the same ratio.
  if (probeThreshold !== undefined && probeRelease !== undefined && probeRelease >= probeThreshold) {
    const origin = [raw.controller?.probeRelease?.origin, raw.controller?.probeThreshold?.origin].filter(Boolean).join(', ') || 'default';
    problems.push(`${origin}: [controller] probeRelease = ${probeRelease} must be less than probeThreshold = ${probeThreshold}`);
  }
}

/** A value as `config check` and `config keys` show it: durations and sizes as written (`1m`, `1GB`), secrets masked. */
function presented(spec: KeySpec, value: unknown): unknown {
  const shown = redactValue(spec, value);
  return spec.unit ? formatUnit(shown, spec.unit) : shown;
}

/**
 * The effective configuration as `bearmon config check` prints it: secrets masked
 * (src/redact.ts) and every duration and size in one human form (`500ms`, `1m`, `7d`,
 * `1GB`) whatever unit the key holds it in.
 */
export function showConfig(config: Config): Record<string, Record<string, unknown>> {
  const values = config as unknown as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of sections()) {
    out[section] = {};
    for (const [key, spec] of Object.entries(keys)) {
      if (isDeprecated(spec)) continue;
      // Unset keys as null, so the output names every key there is.
      out[section]![key] = presented(spec, values[section]?.[key]) ?? null;
    }
  }
  return out;
}

export interface KeyDescription {
  section: string;
  key: string;
  /** BEARMON_<SECTION>_<KEY>. */
  env: string;
  /** As it would be written (`1m`, `1GB`, a list joined with `, `); null: unset by default (or an ignored key). */
  default: string | null;
  /** What kind of value, for durations and sizes (src/config/units.ts); null otherwise. */
  unit: string | null;
  doc: string;
  list: boolean;
  secret: boolean;
  deprecated: boolean;
}

/** The documented key table, for `bearmon config keys` and docs/OPERATIONS.md. */
export function describeKeys(): KeyDescription[] {
  return sections().flatMap(([section, keys]) =>
    Object.entries(keys).map(([key, spec]) => {
      const base = { section, key, env: envName(section, key) };
      if (isDeprecated(spec)) {
        return { ...base, default: null, unit: null, doc: `gobearmon key, ignored: ${spec.deprecated}.`, list: false, secret: false, deprecated: true };
      }
      return {
        ...base,
        default: spec.defaultDoc ?? defaultText(spec),
        unit: spec.unit ? describeUnit(spec.unit) : null,
        doc: spec.doc,
        list: Boolean(spec.list),
        secret: Boolean(spec.secret),
        deprecated: false,
      };
    }),
  );
}

function defaultText(spec: KeySpec): string | null {
  const parsed = (spec.schema as z.ZodType).safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return null;
  const shown = presented(spec, parsed.data);
  if (Array.isArray(shown)) return shown.length === 0 ? null : shown.join(', ');
  return String(shown);
}
