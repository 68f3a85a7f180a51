import dgram from 'node:dgram';
import dnsPacket, { type Answer } from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { renderAnswer, renderIPv6 } from '../../src/checks/dns-render.ts';
import { dnsCheck, parseDnsServer, QUERY_TIMEOUT_MS } from '../../src/checks/dns.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { check } from '../helpers/check.ts';
import { dnsServer, type Zone, type ZoneRecord } from '../helpers/dns-server.ts';

/** SPF has no typed rdata in dns-packet: it is served raw, as <character-string>s. */
const spf = (text: string) =>
  ({ type: 'SPF', ttl: 300, data: Buffer.concat([Buffer.from([text.length]), Buffer.from(text)]) }) as unknown as ZoneRecord;

const zone: Zone = {
  'example.com': [
    { type: 'A', ttl: 300, data: '127.0.0.1' },
    { type: 'AAAA', ttl: 300, data: '2001:db8:0:1:0:0:0:1' },
    { type: 'MX', ttl: 60, data: { preference: 10, exchange: 'mail.example.com' } },
    { type: 'TXT', ttl: 300, data: ['v=spf1 -all', 'say "hi"\\'] },
    { type: 'NS', ttl: 86400, data: 'ns1.example.com' },
    {
      type: 'SOA',
      ttl: 3600,
      data: {
        mname: 'ns1.example.com',
        rname: 'hostmaster.example.com',
        serial: 2024010101,
        refresh: 7200,
        retry: 3600,
        expire: 1209600,
        minimum: 300,
      },
    },
    spf('v=spf1 mx -all'),
  ],
  '_sip._tcp.example.com': [{ type: 'SRV', ttl: 120, data: { priority: 10, weight: 5, port: 5060, target: 'sip.example.com' } }],
  '1.0.0.127.in-addr.arpa': [{ type: 'PTR', ttl: 600, data: 'localhost' }],
  'www.example.com': [{ type: 'CNAME', ttl: 30, data: 'example.com' }],
  'empty.example.com': [],
};

describe('dns check', () => {
  // [type, name, miekg rendering of the answer, a substring users would expect]
  it.each([
    ['a', 'example.com', 'example.com.\t300\tIN\tA\t127.0.0.1', '127.0.0.1'],
    ['aaaa', 'example.com', 'example.com.\t300\tIN\tAAAA\t2001:db8:0:1::1', '2001:db8:0:1::1'],
    ['mx', 'example.com', 'example.com.\t60\tIN\tMX\t10 mail.example.com.', '10 mail.example.com.'],
    ['txt', 'example.com', 'example.com.\t300\tIN\tTXT\t"v=spf1 -all" "say \\"hi\\"\\\\"', '"v=spf1 -all"'],
    ['spf', 'example.com', 'example.com.\t300\tIN\tSPF\t"v=spf1 mx -all"', 'mx -all'],
    ['ns', 'example.com', 'example.com.\t86400\tIN\tNS\tns1.example.com.', 'ns1.example.com.'],
    [
      'soa',
      'example.com',
      'example.com.\t3600\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300',
      'hostmaster.example.com. 2024010101',
    ],
    ['srv', '_sip._tcp.example.com', '_sip._tcp.example.com.\t120\tIN\tSRV\t10 5 5060 sip.example.com.', '5060 sip'],
    ['ptr', '1.0.0.127.in-addr.arpa', '1.0.0.127.in-addr.arpa.\t600\tIN\tPTR\tlocalhost.', 'localhost.'],
    ['cname', 'www.example.com', 'www.example.com.\t30\tIN\tCNAME\texample.com.', 'CNAME\texample.com.'],
  ])('%s: online, renders %j like miekg, matches and mismatches expect', async (type, name, rendered, part) => {
    const { address } = await dnsServer(zone);

    const plain = await check('dns', { server: address, name, type });
    expect(plain).toMatchObject({ status: 'online', message: `query returned 1 answer, first is ${rendered}` });

    const matched = await check('dns', { server: address, name, type, expect: part });
    expect(matched).toMatchObject({ status: 'online', message: `answer contains expected string (${rendered})` });

    const mismatched = await check('dns', { server: address, name, type, expect: 'not-there' });
    expect(mismatched).toMatchObject({
      status: 'offline',
      message: `query answer does not contain expected string (answer is ${rendered}, expected not-there)`,
    });
  });

  it('sends one recursive question and accepts the type in any case', async () => {
    const server = await dnsServer(zone);
    const result = await check('dns', { server: server.address, name: 'Example.COM.', type: 'MX', expect: 'mail' });
    expect(result.status).toBe('online');
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.question).toMatchObject({ name: 'Example.COM', type: 'MX', class: 'IN' });
    expect(server.received[0]!.flags & dnsPacket.RECURSION_DESIRED).toBe(dnsPacket.RECURSION_DESIRED);
  });

  it('is online when any answer (not only the first) contains expect', async () => {
    const { address } = await dnsServer({
      'multi.example.com': [
        { type: 'A', ttl: 5, data: '127.0.0.10' },
        { type: 'A', ttl: 5, data: '127.0.0.20' },
      ],
    });
    const result = await check('dns', { server: address, name: 'multi.example.com', type: 'a', expect: '127.0.0.20' });
    expect(result).toMatchObject({ status: 'online', message: 'answer contains expected string (multi.example.com.\t5\tIN\tA\t127.0.0.20)' });
  });

  it('is offline with NXDOMAIN for an unknown name', async () => {
    const { address } = await dnsServer(zone);
    const result = await check('dns', { server: address, name: 'missing.example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'offline', message: 'query returned no results (NXDOMAIN)' });
  });

  it('is offline with NOERROR when the name has no record of the type', async () => {
    const { address } = await dnsServer(zone);
    const result = await check('dns', { server: address, name: 'empty.example.com', type: 'txt' });
    expect(result).toMatchObject({ status: 'offline', message: 'query returned no results (NOERROR)' });
  });

  it('names SERVFAIL', async () => {
    const { address } = await dnsServer({}, { unknownRcode: 'SERVFAIL' });
    const result = await check('dns', { server: address, name: 'example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'offline', message: 'query returned no results (SERVFAIL)' });
  });

  it('times out after 5s when the server never answers, having retried once over UDP', async () => {
    const server = await dnsServer(zone, { drop: true });
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'offline', message: 'query failed: timed out after 5s' });
    expect(result.durationMs).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(server.queries).toEqual({ udp: 2, tcp: 0 });
  });

  it('stops promptly when the run is aborted', async () => {
    const server = await dnsServer(zone, { drop: true });
    const controller = new AbortController();
    const running = check('dns', { server: server.address, name: 'example.com', type: 'a' }, { signal: controller.signal });
    // The first query goes out at once.
    await expect.poll(() => server.queries.udp, { timeout: timeoutFor() }).toBe(1);
    controller.abort();
    // The caller cancelling (shutdown) says nothing about the target.
    expect(await running).toMatchObject({ status: 'error', message: 'run cancelled' });
  });

  it('stops promptly when its own deadline signal fires', async () => {
    const server = await dnsServer(zone, { drop: true });
    const params = dnsCheck.schema.parse({ server: server.address, name: 'example.com', type: 'a' });
    const outcome = await dnsCheck.run(params, { signal: AbortSignal.timeout(200), now: Date.now, dnsServer: '127.0.0.1:53' });
    expect(outcome).toEqual({ status: 'offline', message: 'query failed: aborted' });
  });

  it('retries over TCP when the UDP reply is truncated', async () => {
    const server = await dnsServer(zone, { truncate: true });
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'txt', expect: 'v=spf1' });
    expect(result.status).toBe('online');
    expect(server.queries).toEqual({ udp: 1, tcp: 1 });
  });

  it('fails naming TCP when the truncated reply cannot be completed', async () => {
    const server = await dnsServer(zone, { truncate: true, noTcp: true });
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'offline', message: expect.stringMatching(/^query failed: TCP .*ECONNREFUSED/) });
    expect(server.queries).toEqual({ udp: 1, tcp: 0 });
  });

  it('falls back to the answers of a truncated reply when TCP fails, as miekg did', async () => {
    const { address } = await dnsServer(zone, { truncate: 'with-answers', noTcp: true });
    const result = await check('dns', { server: address, name: 'example.com', type: 'a', expect: '127.0.0.1' });
    expect(result.status).toBe('online');
  });

  it('ignores garbage and replies with another id', async () => {
    const server = await dnsServer(zone, { wrongIdFirst: true });
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'online', message: 'query returned 1 answer, first is example.com.\t300\tIN\tA\t127.0.0.1' });
    expect(server.queries.udp).toBe(1);
  });

  it('is offline when nothing listens on the server port', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(resolve));
    const result = await check('dns', { server: `127.0.0.1:${port}`, name: 'example.com', type: 'a' });
    expect(result).toMatchObject({ status: 'offline', message: expect.stringMatching(/^query failed: UDP .*ECONNREFUSED/) });
  });

  it('queries an IPv6 server', async () => {
    const { address } = await dnsServer(zone, { host: '::1' });
    const result = await check('dns', { server: address, name: 'example.com', type: 'a', expect: '127.0.0.1' });
    expect(result.status).toBe('online');
  });

  it('uses the configured resolver when no server is given', async () => {
    const server = await dnsServer(zone);
    const result = await check('dns', { name: 'example.com', type: 'a' }, { dnsServer: server.address });
    expect(result.status).toBe('online');
    expect(server.queries.udp).toBe(1);
  });

  it('reports an unusable configured resolver as a worker error, not offline', async () => {
    const result = await check('dns', { name: 'example.com', type: 'a' }, { dnsServer: 'not a host' });
    expect(result).toMatchObject({ status: 'error', message: expect.stringContaining('configured DNS server "not a host"') });
  });

  it('binds UDP and the TCP fallback to the source address', async () => {
    const server = await dnsServer(zone, { truncate: true });
    const result = await check('dns', { server: server.address, name: 'example.com', type: 'a' }, { sourceAddress: '127.0.0.2' });
    expect(result.status).toBe('online');
    expect(server.received.map((q) => [q.transport, q.remoteAddress])).toEqual([
      ['udp', '127.0.0.2'],
      ['tcp', '127.0.0.2'],
    ]);
  });

  describe('server parsing (port 53 when absent)', () => {
    it.each([
      ['192.0.2.53', { host: '192.0.2.53', port: 53 }],
      ['192.0.2.53:5353', { host: '192.0.2.53', port: 5353 }],
      ['ns1.example.com', { host: 'ns1.example.com', port: 53 }],
      ['2001:db8::53', { host: '2001:db8::53', port: 53 }],
      ['[2001:db8::53]', { host: '2001:db8::53', port: 53 }],
      ['[2001:db8::53]:5300', { host: '2001:db8::53', port: 5300 }],
      [' 192.0.2.53 ', { host: '192.0.2.53', port: 53 }],
    ])('%j', (text, parsed) => {
      expect(parseDnsServer(text)).toEqual(parsed);
    });

    it('refuses junk', () => {
      expect(parseDnsServer('a b:53')).toEqual({ error: 'invalid host "a b"' });
    });
  });

  describe('rendering like miekg RR.String()', () => {
    const render = (answer: Answer) => renderAnswer(answer);

    it('writes IPv6 as Go does (RFC 5952, IPv4-mapped dotted)', () => {
      expect(renderIPv6('2001:db8::1:0:0:1')).toBe('2001:db8::1:0:0:1');
      expect(renderIPv6('2001:0:0:1::1')).toBe('2001:0:0:1::1');
      expect(renderIPv6('2001::1:0:0:0:1')).toBe('2001:0:0:1::1');
      expect(renderIPv6('::ffff:102:304')).toBe('::ffff:1.2.3.4');
      expect(renderIPv6('FE80:0:0:0:0:0:0:A')).toBe('fe80::a');
    });

    it('escapes unprintable TXT bytes as \\DDD and special name characters', () => {
      expect(render({ type: 'TXT', name: 'x', ttl: 1, data: [Buffer.from([0x61, 0x01, 0xff])] })).toBe('x.\t1\tIN\tTXT\t"a\\001\\255"');
      expect(render({ type: 'CNAME', name: 'a@b', ttl: 1, data: '.' })).toBe('a\\@b.\t1\tIN\tCNAME\t.');
    });

    it('keeps a dotted SOA mailbox label together', () => {
      const soa: Answer = {
        type: 'SOA',
        name: 'example.com',
        ttl: 1,
        data: { mname: 'ns.example.com', rname: 'john\\.doe.example.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 },
      };
      expect(render(soa)).toBe('example.com.\t1\tIN\tSOA\tns.example.com. john\\.doe.example.com. 1 2 3 4 5');
    });

    it('falls back to RFC 3597 for types it does not know', () => {
      const unknown = { type: 'UNKNOWN_65280', name: 'x', ttl: 1, class: 'IN', data: Buffer.from([0xab, 0xcd]) };
      expect(render(unknown as unknown as Answer)).toBe('x.\t1\tIN\tTYPE65280\t\\# 2 abcd');
    });
  });

  describe('bad input is misconfigured, naming the field', () => {
    const long = `${Array(4).fill('a'.repeat(63)).join('.')}.${'b'.repeat(44)}`; // 300 characters
    it.each([
      ['unknown type', { name: 'example.com', type: 'bogus' }, /^type: invalid record type, expected one of a, ns, .* \(value "bogus"\)$/],
      ['prototype key as type', { name: 'example.com', type: 'constructor' }, /^type: invalid record type/],
      ['type as a number', { name: 'example.com', type: 1 }, /^type: .*expected string.* \(value 1\)$/],
      ['missing type', { name: 'example.com' }, /^type: .*expected string/],
      ['missing name', { type: 'a' }, /^name: .*expected string/],
      ['name with spaces', { name: 'exa mple.com', type: 'a' }, /^name: expected a DNS name .*\(value "exa mple.com"\)$/],
      ['name of 300 characters', { name: long, type: 'a' }, /^name: expected a DNS name of at most 253 characters, got 300 /],
      ['label of 64 characters', { name: `${'b'.repeat(64)}.com`, type: 'a' }, /^name: .*labels of at most 63/],
      ['empty label', { name: 'a..com', type: 'a' }, /^name: .*empty label/],
      ['empty name', { name: '', type: 'a' }, /^name: .*empty string/],
      ['server with spaces', { server: 'a b:53', name: 'example.com', type: 'a' }, /^server: expected host\[:port\], invalid host "a b"/],
      ['server port 99999', { server: '127.0.0.1:99999', name: 'example.com', type: 'a' }, /^server: .*invalid port "99999"/],
      ['expect as a number', { name: 'example.com', type: 'a', expect: 5 }, /^expect: .*\(value 5\)$/],
    ])('%s', async (_name, data, message) => {
      const result = await check('dns', data);
      expect(result.status).toBe('misconfigured');
      expect(result.message).toMatch(message);
    });
  });
});
