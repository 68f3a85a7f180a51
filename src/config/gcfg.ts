/**
 * A reader for gobearmon's configuration syntax (Go's gcfg, a git-config dialect), so an
 * existing gobearmon.worker.cfg loads unchanged. The npm `ini` packages collapse repeated
 * keys (`database =` lines, `controller =` lines), which gcfg treats as a list, so this
 * small reader is ours.
 *
 * Rules kept from gcfg: `[section]` headers and variable names are case-insensitive;
 * `;` and `#` start comments; values may be double-quoted (with \" \\ \n \t escapes);
 * a key may repeat (all values are kept in order); a key with no `=` means "true".
 */
export interface RawEntry {
  section: string;
  key: string;
  value: string;
  line: number;
}

export class ConfigSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export function parseGcfg(text: string): RawEntry[] {
  const entries: RawEntry[] = [];
  let section: string | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    const header = /^\[\s*([A-Za-z][A-Za-z0-9_.-]*)\s*\]\s*(?:[;#].*)?$/.exec(trimmed);
    if (header) {
      section = header[1]!.toLowerCase();
      return;
    }
    // A bad line is shown only up to where it went wrong: the rest may be a password.
    if (trimmed.startsWith('[')) throw new ConfigSyntaxError(line, `invalid section header ${JSON.stringify(trimmed.replace(/^(\[[^\]]*\]?).*$/s, '$1'))}`);
    const variable = /^([A-Za-z][A-Za-z0-9_-]*)\s*(?:=\s*(.*))?$/.exec(trimmed);
    if (!variable) throw new ConfigSyntaxError(line, `expected "key = value", got ${JSON.stringify(shownStart(trimmed))}`);
    if (section === undefined) throw new ConfigSyntaxError(line, `key ${variable[1]} appears before any [section]`);
    const value = variable[2] === undefined ? 'true' : parseValue(variable[2], line);
    entries.push({ section, key: variable[1]!.toLowerCase(), value, line });
  });
  return entries;
}

/** The start of a line that is not `key = value`: its first word, the rest masked. */
function shownStart(text: string): string {
  const word = /^[^\s=:]*/.exec(text)![0];
  return word.length < text.length ? `${word}…` : word;
}

/** Unquotes a value and strips a trailing comment outside quotes. */
function parseValue(input: string, line: number): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (ch === '"') {
      quoted = !quoted;
    } else if (ch === '\\') {
      const next = input[++i];
      const escapes: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };
      if (next === undefined || !(next in escapes)) throw new ConfigSyntaxError(line, `invalid escape \\${next ?? ''}`);
      out += escapes[next];
    } else if (!quoted && (ch === ';' || ch === '#')) {
      break;
    } else {
      out += ch;
    }
  }
  if (quoted) throw new ConfigSyntaxError(line, 'unterminated quoted value');
  return out.trim();
}
