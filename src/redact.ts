import { configSpec, DEFAULT_DATABASE, type Config, type KeySpec } from './config/schema.ts';

/**
 * The one place that decides what a secret looks like when bearmon prints something:
 * configuration (`bearmon config check`, config errors), DSNs and URLs in log lines, and
 * error messages that may echo a credential. Everything printed is masked with MASK.
 */
export const MASK = '***';

/** A URL's credentials, split off the rest (`scheme://user:password@host...`). */
export interface UrlUserinfo {
  /** `nats://`, `mysql://`... */
  scheme: string;
  /** As written (still percent-encoded). */
  user: string;
  /** As written; undefined when the userinfo has no `:`. */
  password?: string;
  /** Everything after the `@` that ends the userinfo. */
  rest: string;
}

/**
 * Splits the userinfo off a URL. It ends at the last `@` before the first `/`; when there
 * is none there but a `:` is (the `/` is inside a password: user:pa/ss@host), at the last
 * `@` of all. So a password holding `@`, `:` or `/` is never taken for the host — at worst
 * more than the password is masked.
 */
export function splitUrlUserinfo(url: string): UrlUserinfo | undefined {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(url);
  if (!match) return undefined;
  const [, scheme, remainder] = match as unknown as [string, string, string];
  const authorityEnd = remainder.indexOf('/');
  const authority = authorityEnd === -1 ? remainder : remainder.slice(0, authorityEnd);
  let at = authority.lastIndexOf('@');
  // No `@` before the first `/`: the `/` may be inside the password (user:pa/ss@host).
  if (at === -1 && authority.includes(':')) at = remainder.lastIndexOf('@');
  if (at === -1) return undefined;
  const userinfo = remainder.slice(0, at);
  const colon = userinfo.indexOf(':');
  return {
    scheme,
    user: colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: colon === -1 ? undefined : userinfo.slice(colon + 1),
    rest: remainder.slice(at + 1),
  };
}

/** `nats://user:secret@host:4222` → `nats://user:***@host:4222`; a URL without a password is returned as is. */
export function redactUrl(url: string): string {
  const parts = splitUrlUserinfo(url);
  if (!parts || parts.password === undefined) return url;
  return `${parts.scheme}${parts.user}:${MASK}@${parts.rest}`;
}

/**
 * A MySQL DSN with its password masked: go-sql-driver's `user:pass@tcp(host:port)/db`
 * (the password may hold any character, `@` and `:` included: it ends at the last `@`
 * that is followed by `net(` or `/`) and `mysql://user:pass@host/db` URLs.
 */
export function redactDsn(dsn: string): string {
  if (isUrl(dsn)) return redactUrl(dsn);
  const parts = splitDsnUserinfo(dsn);
  return parts ? `${parts.user}:${MASK}@${parts.rest}` : dsn;
}

const isUrl = (text: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(text);

/**
 * go-sql-driver form: the user ends at the first `:`, the password at the last `@` followed
 * by `net(` or `/`; failing that (a malformed DSN), at the last `@` of all. No password
 * (no `:` before an `@`): undefined.
 */
function splitDsnUserinfo(dsn: string): { user: string; password: string; rest: string } | undefined {
  const match = /^([^:@]*):(.*)@((?:[A-Za-z0-9_]*\(|\/).*)$/s.exec(dsn) ?? /^([^:@]*):(.*)@(.*)$/s.exec(dsn);
  return match ? { user: match[1]!, password: match[2]!, rest: match[3]! } : undefined;
}

/**
 * The password of a DSN or URL as written and as it is used (percent-decoded for URLs),
 * for redactText; empty when there is none.
 */
export function credentialSecrets(value: string, kind: 'dsn' | 'url'): string[] {
  if (kind === 'url' || isUrl(value)) {
    const password = splitUrlUserinfo(value)?.password;
    return password ? unique([password, decodeLenient(password)]) : [];
  }
  const password = splitDsnUserinfo(value)?.password;
  return password ? [password] : [];
}

/**
 * Percent-decoding that never throws: valid `%XX` sequences (UTF-8) are decoded, anything
 * else — a literal `%` as in `50%off`, or bytes that are not UTF-8 — is kept as written.
 */
export function decodeLenient(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      // Decode character by character: a UTF-8 sequence that is whole, else one byte as written.
      const escapes = run.match(/%../g)!;
      let out = '';
      for (let i = 0; i < escapes.length; ) {
        const lead = parseInt(escapes[i]!.slice(1), 16);
        const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        try {
          out += decodeURIComponent(escapes.slice(i, i + length).join(''));
          i += length;
        } catch {
          out += escapes[i];
          i += 1;
        }
      }
      return out;
    }
  });
}

/**
 * Replaces every occurrence of each secret in `text` (longest first, so a secret that
 * contains another goes whole), and masks the password of any `scheme://user:pass@` URL in
 * it. For error messages that might echo a credential.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let result = text;
  const ordered = unique(secrets.filter((s) => s.length > 0)).sort((a, b) => b.length - a.length);
  for (const secret of ordered) result = result.split(secret).join(MASK);
  return result.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)\S*@/gi, `$1${MASK}@`);
}

type Section = Record<string, KeySpec | { deprecated: string }>;
const keySpecs = (): [string, string, KeySpec][] =>
  Object.entries(configSpec as Record<string, Section>).flatMap(([section, keys]) =>
    Object.entries(keys).flatMap(([key, spec]) => ('deprecated' in spec ? [] : [[section, key, spec] as [string, string, KeySpec]])),
  );

/**
 * A value of one key as it may be shown: `***` for a secret key, passwords masked in DSN
 * and URL keys. `value` may be raw (strings from a file) or parsed.
 */
export function redactValue(spec: Pick<KeySpec, 'secret' | 'credentials'>, value: unknown): unknown {
  if (value === undefined || value === null || value === '') return value;
  if (spec.secret) return MASK;
  if (!spec.credentials) return value;
  const redact = spec.credentials === 'dsn' ? redactDsn : redactUrl;
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? redact(v) : v));
  return typeof value === 'string' ? redact(value) : value;
}

/**
 * A deep copy of the configuration fit to print: every key the schema marks `secret` is
 * `***`, and DSN and URL keys (`credentials`) keep user and host but not the password.
 */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const [section, key, spec] of keySpecs()) {
    const values = copy[section];
    if (values && key in values) values[key] = redactValue(spec, values[key]);
  }
  return copy as unknown as Config;
}

/**
 * Every secret value in the configuration, as written and as used: secret keys, and the
 * passwords inside DSNs and URLs. Feed to redactText before printing an error.
 */
export function configSecrets(config: Config): string[] {
  const values = config as unknown as Record<string, Record<string, unknown>>;
  const secrets: string[] = [];
  for (const [section, key, spec] of keySpecs()) {
    const value = values[section]?.[key];
    const list = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v.length > 0);
    if (spec.secret) secrets.push(...list);
    // The built-in DSN's password is the README's development one, and it is the word
    // "bearmon": masking it would turn every "bearmon" in an error into ***.
    else if (spec.credentials) for (const v of list) if (v !== DEFAULT_DATABASE) secrets.push(...credentialSecrets(v, spec.credentials));
  }
  return unique(secrets);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
