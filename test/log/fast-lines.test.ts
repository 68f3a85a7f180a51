import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { assignLine, checkLine, expireLine, FAST_KEYS, fastInputLine, fastTimestamp, parseLine, resultLine, type InputLine, type ParsedLine } from '../../src/log/lines.ts';
import { describeIssues } from '../../src/validation.ts';
import { replay, type LogRecord } from '../../src/replay/run.ts';
import { fileRecordBatches, LineSplitter } from '../../src/replay/sources.ts';

/**
 * parseLine's fast path (src/log/lines.ts) must give exactly what the schemas give: the
 * same object (keys, order, defaults) for a line it takes, and for anything else the
 * schema's own verdict, error text included. The reference below is parseLine as it was
 * before the fast path: the schema alone.
 */
const SCHEMAS: Record<string, z.ZodType<InputLine>> = { check: checkLine, result: resultLine, assign: assignLine, expire: expireLine };

function schemaOnly(text: string): ParsedLine | 'not an input line' {
  const json = JSON.parse(text) as Record<string, unknown>;
  const schema = SCHEMAS[json.type as string]!;
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, error: describeIssues(schema.safeParse(json, { reportInput: true }).error!) };
  return { ok: true, line: parsed.data } as ParsedLine;
}

/** parseLine(text) agrees with the schema alone, key order included; returns whether the fast path took it. */
function agrees(text: string): boolean {
  const actual = parseLine(text);
  const expected = schemaOnly(text);
  if (expected === 'not an input line') throw new Error('not an input line');
  if (expected.ok) {
    expect(actual.ok).toBe(true);
    const line = (actual as { line: InputLine }).line;
    expect(line).toStrictEqual(expected.line);
    expect(JSON.stringify(line)).toBe(JSON.stringify(expected.line));
    expect(Object.keys(line)).toEqual(Object.keys(expected.line!));
  } else expect(actual).toEqual(expected);
  const json = JSON.parse(text) as Record<string, unknown>;
  return fastInputLine(json.type as string, json) !== undefined;
}

const GOOD = {
  check: { type: 'check', checkId: 7, interval: 30, delay: 2, status: 'offline', minRegions: 2, at: '2026-01-01T00:00:00.000Z', name: 'api', view: 0, checkType: 'tcp' },
  result: {
    type: 'result',
    checkId: 7,
    worker: 'w-1_a',
    assignment: 'ctl.0.abc:1-2',
    status: 'online',
    message: 'connected in 3 ms',
    durationMs: 3,
    view: 0,
    at: '2026-01-01T00:00:01.123Z',
    region: 'eu-west',
    site: 'ams_1',
  },
  assign: { type: 'assign', checkId: 7, worker: 'w1', assignment: 'ctl.0.x.1', at: '2026-01-01T00:00:00Z', deadline: '2026-01-01T00:00:13.000Z', due: '2026-01-01T00:00:00Z', audit: true, region: 'us', view: 0 },
  expire: { type: 'expire', checkId: 7, worker: 'w1', assignment: 'a', at: '2026-01-01T00:00:14+02:00' },
} as const;

/** Values a hostile or broken line might hold in any field. */
const HOSTILE: unknown[] = [
  undefined, // the field left out
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  16,
  17,
  2 ** 53 - 1,
  2 ** 53,
  1e21,
  -1e21,
  '',
  '7',
  'online',
  'offline',
  'fail',
  'misconfigured',
  'error',
  'ONLINE',
  'w1',
  'w 1',
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(80),
  'a'.repeat(81),
  'x'.repeat(4096),
  'x'.repeat(4097),
  'é'.repeat(2049),
  'eu-west',
  'EU',
  '-eu',
  '2026-01-01T00:00:00Z',
  '2026-01-01T00:00:00.000Z',
  '2026-01-01T00:00:00.5Z',
  '2026-01-01T23:59:59.999Z',
  '2026-01-01T24:00:00.000Z',
  '2026-01-01T24:00:00.500Z',
  '2026-02-30T00:00:00.000Z',
  '2026-13-01T00:00:00.000Z',
  '2026-01-01T00:00:60.000Z',
  '2026-01-01T00:00:00.000+01:00',
  '2026-01-01 00:00:00Z',
  '2026-01-01T00:00:00.00aZ',
  'yesterday',
  [],
  [1],
  {},
  { at: 1 },
];

describe('parseLine fast path', () => {
  it('knows exactly the fields of each schema, in their order', () => {
    for (const [type, schema] of Object.entries(SCHEMAS)) expect(FAST_KEYS[type as keyof typeof FAST_KEYS]).toEqual(Object.keys((schema as unknown as z.ZodObject).shape));
  });

  it('takes the well-formed lines of every input type, giving what the schema gives', () => {
    for (const line of Object.values(GOOD)) expect(agrees(JSON.stringify(line))).toBe(true);
    // The lines the controller writes (as the replay bench generates them).
    expect(agrees('{"type":"check","checkId":1,"interval":60,"delay":1,"status":"online","at":"2026-01-01T00:00:00.000Z","name":"bench 1","checkType":"tcp","view":0}')).toBe(true);
    expect(agrees('{"type":"assign","checkId":1,"worker":"w2","assignment":"ctl.0.mjuz0f0g.0","at":"2026-01-01T00:01:00.001Z","deadline":"2026-01-01T00:01:13.001Z","due":"2026-01-01T00:01:00.000Z","view":0}')).toBe(true);
    expect(agrees('{"type":"result","checkId":1,"worker":"w2","assignment":"ctl.0.mjuz0f0g.0","status":"offline","message":"connect ECONNREFUSED 127.0.0.1:9","durationMs":1,"view":0,"at":"2026-01-01T00:01:00.002Z"}')).toBe(true);
    // Only the required fields: the defaults come out as the schema's.
    expect(agrees('{"type":"check","checkId":1}')).toBe(true);
    expect(agrees('{"type":"result","checkId":1,"worker":"w1","status":"fail","at":"2026-01-01T00:00:00Z"}')).toBe(true);
  });

  it('every field of every type, set to each hostile value (or left out): same line or same error as the schema', () => {
    let rejected = 0;
    for (const good of Object.values(GOOD)) {
      for (const field of [...Object.keys(good), 'extra']) {
        for (const value of HOSTILE) {
          if (field === 'type') continue; // another type is another schema (tested through its own lines)
          const line: Record<string, unknown> = { ...good };
          if (value === undefined) delete line[field];
          else line[field] = value;
          const schema = schemaOnly(JSON.stringify(line));
          if (schema !== 'not an input line' && !schema.ok) {
            rejected++;
            // A line the schema rejects never passes the fast check.
            expect(agrees(JSON.stringify(line))).toBe(false);
          } else agrees(JSON.stringify(line));
        }
      }
    }
    expect(rejected).toBeGreaterThan(300);
  });

  it('numbers JSON.parse makes odd (huge, -0, exponents) and duplicate keys', () => {
    const texts = [
      '{"type":"check","checkId":1e400}',
      '{"type":"check","checkId":-1e400}',
      '{"type":"check","checkId":1,"delay":-0}',
      '{"type":"check","checkId":1,"interval":6e1}',
      '{"type":"check","checkId":1.0,"minRegions":1e1}',
      '{"type":"check","checkId":123456789012345678901234567890}',
      '{"type":"check","checkId":9007199254740993}',
      '{"type":"result","checkId":1,"worker":"w1","status":"online","at":"2026-01-01T00:00:00Z","checkId":"1"}',
      '{"type":"result","checkId":"1","worker":"w1","status":"online","at":"2026-01-01T00:00:00Z","checkId":2}',
      '{"type":"assign","checkId":1,"worker":"w1","assignment":"a","at":"2026-01-01T00:00:00Z","__proto__":{"deadline":"x"}}',
      '{"type":"assign","checkId":1,"worker":"w1","assignment":"a","at":"2026-01-01T00:00:00Z","constructor":1,"toString":2}',
      '{"type":"result","checkId":1,"worker":"w1","status":"online","at":"2026-01-01T00:00:00.000Z","message":null}',
      '{"type":"check","checkId":1,"name":null}',
      '{"type":"check","checkId":1,"name":5}',
    ];
    for (const text of texts) agrees(text);
    expect(parseLine('{"type":"check","checkId":1e400}')).toEqual({ ok: false, error: 'checkId: Invalid input: expected number, received Infinity (value null)' });
  });

  it('random lines built from good and hostile values: always the schema verdict', () => {
    const types = Object.keys(GOOD) as (keyof typeof GOOD)[];
    const value = fc.oneof(fc.constantFrom(...HOSTILE), fc.jsonValue({ maxDepth: 1 }), fc.integer(), fc.double(), fc.string({ maxLength: 30 }), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()));
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.dictionary(fc.constantFrom('checkId', 'interval', 'delay', 'status', 'minRegions', 'at', 'name', 'worker', 'message', 'assignment', 'region', 'site', 'deadline', 'audit', 'x'), value), fc.boolean(), (type, changes, keep) => {
        const line: Record<string, unknown> = { ...(keep ? GOOD[type] : { type }), ...changes, type };
        for (const [k, v] of Object.entries(line)) if (v === undefined) delete line[k];
        agrees(JSON.stringify(line));
      }),
      { numRuns: 3000, seed: 12 },
    );
  });
});

describe('fastTimestamp (the cached second)', () => {
  const reference = (value: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) ? Date.parse(value) : NaN);

  it('equals the regex and Date.parse on every string, whatever was cached before', () => {
    const strings = HOSTILE.filter((v): v is string => typeof v === 'string');
    // Each string after each other (the cache then holds the first one's second).
    for (const a of strings) for (const b of strings) for (const s of [a, b, a]) expect(fastTimestamp(s)).toBe(reference(s));
    // An hour of 24 is valid only at .000: the cache must not carry it to another millisecond.
    expect(fastTimestamp('2026-01-01T24:00:00.000Z')).toBe(Date.parse('2026-01-02T00:00:00.000Z'));
    expect(fastTimestamp('2026-01-01T24:00:00.001Z')).toBeNaN();
  });

  it('random times and near-misses around cached seconds', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 4e12 }), fc.nat(23), fc.constantFrom('', 'x', '5', '.', 'Z', '+', '24', '60', ':', '9'))), (cases) => {
        for (const [ms, at, junk] of cases) {
          const iso = new Date(ms).toISOString();
          for (const s of [iso, iso.slice(0, at) + junk + iso.slice(at + junk.length), iso.slice(0, at) + junk + iso.slice(at)]) expect(fastTimestamp(s)).toBe(reference(s));
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

/** What readline (crlfDelay: Infinity) makes of these chunks: the lines the file reader had before. */
async function readlineLines(chunks: Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of createInterface({ input: Readable.from(chunks), crlfDelay: Infinity })) lines.push(line);
  return lines;
}

function splitterLines(chunks: Buffer[]): string[] {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (const chunk of chunks) splitter.push(chunk, lines);
  splitter.end(lines);
  return lines;
}

describe('LineSplitter', () => {
  it('splits as readline does: \\n, \\r\\n, lone \\r, across chunks, multi-byte characters split between chunks', async () => {
    const alphabet = fc.constantFrom('a', 'b', '{', '"', ' ', '\n', '\r', '\r\n', 'é', '€', '😀', '\u2028', '\t');
    await fc.assert(
      fc.asyncProperty(fc.array(alphabet, { maxLength: 60 }), fc.array(fc.nat(200), { maxLength: 8 }), async (parts, cuts) => {
        const bytes = Buffer.from(parts.join(''));
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const cut of [...at, bytes.length]) {
          if (cut > from) chunks.push(bytes.subarray(from, cut));
          from = cut;
        }
        expect(splitterLines(chunks)).toEqual(await readlineLines(chunks));
      }),
      { numRuns: 2000, seed: 3 },
    );
  });

  it('a file read in batches gives the records readline gave, numbered alike', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-lines-'));
    try {
      const file = join(dir, 'log.ndjson');
      const text = `${Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `{"i":${i}}\r` : i % 11 === 0 ? '' : `{"i":${i},"é":"${'€'.repeat(i % 50)}"}`)).join('\n')}\n\r\nlast`;
      await writeFile(file, text);
      const expected = await readlineLines([Buffer.from(text)]);
      const batches: LogRecord[][] = [];
      for await (const batch of fileRecordBatches(file)) batches.push(batch);
      expect(batches.length).toBeGreaterThan(0);
      const records = batches.flat();
      expect(records.map((r) => r.text)).toEqual(expected);
      expect(records.map((r) => r.where)).toEqual(expected.map((_, i) => `${file}:${i + 1}`));
      await expect(async () => {
        for await (const batch of fileRecordBatches(join(dir, 'missing'))) void batch;
      }).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('replay over batches', () => {
  it('prints and reports exactly what it does over single records, bad lines included', async () => {
    const lines = [
      '{"type":"check","checkId":1,"interval":60,"delay":1,"status":"online"}',
      '',
      '   ',
      '{"type":"result","checkId":1,"worker":"w1","status":"offline","at":"2026-01-01T00:00:00.000Z","message":"x"}',
      '{"type":"result","checkId":"1","worker":"w2","status":"offline","at":"2026-01-01T00:00:01.000Z"}',
      '{"type":"result","checkId":1,"worker":"w2","status":"offline","at":"2026-01-01T00:00:01.000Z","message":5}',
      'not json',
      '{"type":"result","checkId":1,"worker":"w2","status":"offline","at":"2026-01-01T00:00:01.000Z"}',
      '{"type":"result","checkId":1,"worker":"w3","status":"offline","at":"2026-01-01T00:01:00.000Z"}',
      '{"type":"transition","checkId":1,"to":"offline","at":"x"}',
      '{"type":"result","checkId":1,"worker":"w1","status":"offline","at":"2026-01-01T00:01:01.000Z"}',
      '{"type":"bogus","checkId":1}',
    ];
    const records = lines.map((text, i) => ({ text, where: `line ${i + 1}` }));
    const run = async (source: AsyncIterable<LogRecord | LogRecord[]>, mode: 'ndjson' | 'explain' | 'summary') => {
      const out: string[] = [];
      const err: string[] = [];
      const skipped = await replay(source, { mode, confirmations: 2 }, { out: (t) => out.push(t), err: (t) => err.push(t) });
      return { out, err, skipped };
    };
    for (const mode of ['ndjson', 'explain', 'summary'] as const) {
      const single = await run((async function* () { yield* records; })(), mode);
      const batched = await run((async function* () { yield records.slice(0, 5); yield []; yield records.slice(5); })(), mode);
      expect(batched).toEqual(single);
      expect(single.skipped).toBe(4);
      expect(single.err).toContain('line 5: skipped: checkId: Invalid input: expected number, received string (value "1")');
      expect(single.err).toContain('line 6: skipped: message: Invalid input: expected string, received number (value 5)');
    }
  });
});
