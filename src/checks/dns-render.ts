import type { Answer } from 'dns-packet';

/**
 * Renders answers exactly as miekg/dns's RR.String() does (what gobearmon matched `expect`
 * against), so existing `expect` strings keep working:
 *   `example.com.\t300\tIN\tA\t127.0.0.1`
 */
export function renderAnswer(answer: Answer): string {
  if (answer.type === 'OPT') return `;OPT\t${answer.udpPayloadSize}`;
  const header = [renderName(answer.name), answer.ttl ?? 0, renderClass(answer.class), renderType(answer.type)];
  return `${header.join('\t')}\t${renderData(answer)}`;
}

function renderData(answer: Exclude<Answer, { type: 'OPT' }>): string {
  switch (answer.type) {
    case 'A':
      return answer.data;
    case 'AAAA':
      return renderIPv6(answer.data);
    case 'NS':
    case 'CNAME':
    case 'PTR':
    case 'DNAME':
      return renderName(answer.data);
    case 'MX':
      return `${answer.data.preference ?? 0} ${renderName(answer.data.exchange)}`;
    case 'TXT':
      return renderTxt(toBuffers(answer.data));
    case 'SRV': {
      const { priority = 0, weight = 0, port, target } = answer.data;
      return `${priority} ${weight} ${port} ${renderName(target)}`;
    }
    case 'SOA': {
      const d = answer.data;
      const numbers = [d.serial, d.refresh, d.retry, d.expire, d.minimum].map((n) => n ?? 0);
      return [renderName(d.mname), renderMailbox(d.rname), ...numbers].join(' ');
    }
    default:
      return renderOther(answer.type as string, answer.data);
  }
}

/** SPF (dns-packet leaves its rdata raw) is TXT-shaped; other types fall back to RFC 3597. */
function renderOther(type: string, data: unknown): string {
  if (!Buffer.isBuffer(data)) return JSON.stringify(data) ?? '';
  if (type === 'SPF') {
    const strings = splitCharacterStrings(data);
    if (strings) return renderTxt(strings);
  }
  return `\\# ${data.length}${data.length ? ` ${data.toString('hex')}` : ''}`;
}

/** Parses RFC 1035 <character-string>s (length-prefixed); undefined when malformed. */
export function splitCharacterStrings(rdata: Buffer): Buffer[] | undefined {
  const strings: Buffer[] = [];
  for (let offset = 0; offset < rdata.length; ) {
    const length = rdata[offset]!;
    if (offset + 1 + length > rdata.length) return undefined;
    strings.push(rdata.subarray(offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  return strings;
}

function toBuffers(data: string | Buffer | Array<string | Buffer>): Buffer[] {
  return (Array.isArray(data) ? data : [data]).map((s) => (Buffer.isBuffer(s) ? s : Buffer.from(s)));
}

/** Each string quoted, `"` and `\` backslash-escaped, unprintable bytes as \DDD (miekg sprintTxt). */
function renderTxt(strings: Buffer[]): string {
  return strings.map((s) => `"${escapeBytes(s, (b) => b === 0x22 || b === 0x5c)}"`).join(' ');
}

/** Characters miekg backslash-escapes inside a name's label. */
const LABEL_SPECIAL = new Set([...'. \'@;()"\\'].map((c) => c.charCodeAt(0)));

/** Fully qualified, labels escaped as miekg sprintName does. */
export function renderName(name: string): string {
  if (name === '' || name === '.') return '.';
  const labels = name.replace(/\.$/, '').split('.');
  return `${labels.map(renderLabel).join('.')}.`;
}

function renderLabel(label: string): string {
  return escapeBytes(Buffer.from(label, 'utf8'), (b) => LABEL_SPECIAL.has(b));
}

/** dns-packet decodes SOA rname with dots inside a label written as `\.`; keep them as one label. */
function renderMailbox(rname: string): string {
  if (rname === '' || rname === '.') return '.';
  const labels = rname.replace(/\.$/, '').split(/(?<!\\)\./).map((l) => l.replace(/\\\./g, '.'));
  return `${labels.map(renderLabel).join('.')}.`;
}

function escapeBytes(bytes: Buffer, needsBackslash: (byte: number) => boolean): string {
  let out = '';
  for (const b of bytes) {
    if (needsBackslash(b)) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b > 0x7e) out += `\\${b.toString().padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * Go's net.IP.String() (RFC 5952: lowercase, first longest zero run of 2+ groups compressed);
 * miekg writes IPv4-mapped addresses as `::ffff:a.b.c.d`. The WHATWG URL serializer applies
 * the same compression rule, so it canonicalises whatever form dns-packet produced.
 */
export function renderIPv6(address: string): string {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** miekg prints unknown classes/types as CLASSn/TYPEn; dns-packet says UNKNOWN_n. */
function renderClass(klass: string | undefined): string {
  return (klass ?? 'IN').replace(/^UNKNOWN_/, 'CLASS');
}

function renderType(type: string): string {
  return type.replace(/^UNKNOWN_/, 'TYPE');
}
