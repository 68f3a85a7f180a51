import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Question } from 'dns-packet';

type WithoutName<T> = T extends unknown ? Omit<T, 'name'> : never;
/** A record served for the zone key it is listed under (its owner name is the query's). */
export type ZoneRecord = WithoutName<Exclude<Answer, { type: 'OPT' }>>;
/** Owner name (case-insensitive, trailing dot optional) -> its records. */
export type Zone = Record<string, ZoneRecord[]>;

export interface DnsServerOptions {
  /** Loopback address to serve on: '127.0.0.1' (default) or '::1'. */
  host?: string;
  /** Rcode for names absent from the zone (default NXDOMAIN). */
  unknownRcode?: keyof typeof RCODES;
  /** Count queries but never answer (timeouts). */
  drop?: boolean;
  /** Over UDP answer with TC set and no records (or all of them: 'with-answers'); over TCP in full. */
  truncate?: boolean | 'with-answers';
  /** Leave the TCP port closed (connections refused). */
  noTcp?: boolean;
  /** Before each UDP reply send garbage and a reply with another id carrying 127.9.9.9. */
  wrongIdFirst?: boolean;
}

export interface ReceivedQuery {
  transport: 'udp' | 'tcp';
  remoteAddress: string;
  id: number;
  flags: number;
  question: Question | undefined;
}

export interface DnsServer {
  /** host:port (bracketed for IPv6) to put in a check's `server`. */
  address: string;
  port: number;
  queries: { udp: number; tcp: number };
  received: ReceivedQuery[];
  close(): Promise<void>;
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/**
 * An authoritative-style DNS server for the demo and the tests: UDP and TCP on the same
 * random loopback port, built on dns-packet.
 */
export async function startDnsServer(zone: Zone, options: DnsServerOptions = {}): Promise<DnsServer> {
  const host = options.host ?? '127.0.0.1';
  const { udp, tcp, port } = await bindPair(host);
  const server: DnsServer = {
    address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    port,
    queries: { udp: 0, tcp: 0 },
    received: [],
    close: async () => {
      udp.close();
      for (const socket of sockets) socket.destroy();
      if (tcp.listening) await new Promise((resolve) => tcp.close(resolve));
    },
  };
  const answer = (bytes: Buffer, transport: 'udp' | 'tcp', remoteAddress: string): Buffer | undefined => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(bytes);
    } catch {
      return undefined;
    }
    server.queries[transport] += 1;
    server.received.push({ transport, remoteAddress, id: query.id ?? 0, flags: query.flags ?? 0, question: query.questions?.[0] });
    return options.drop ? undefined : dnsPacket.encode(respond(query, zone, options, transport));
  };
  udp.on('message', (bytes, remote) => {
    const reply = answer(bytes, 'udp', remote.address);
    if (!reply) return;
    if (options.wrongIdFirst) {
      udp.send(Buffer.from('garbage'), remote.port, remote.address);
      udp.send(decoy(reply), remote.port, remote.address);
    }
    udp.send(reply, remote.port, remote.address);
  });
  const sockets = new Set<net.Socket>();
  if (options.noTcp) tcp.close();
  tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    readFrames(socket, (frame) => {
      const reply = answer(frame, 'tcp', socket.remoteAddress ?? '');
      if (reply) socket.write(Buffer.concat([lengthPrefix(reply.length), reply]));
    });
  });
  return server;
}

function respond(query: DecodedPacket, zone: Zone, options: DnsServerOptions, transport: string): dnsPacket.Packet {
  const question = query.questions?.[0];
  const records = question ? findRecords(zone, question.name) : undefined;
  const truncated = Boolean(options.truncate) && transport === 'udp';
  const answers =
    records && question && (!truncated || options.truncate === 'with-answers')
      ? records.filter((r) => r.type === question.type).map((r) => ({ ...r, name: question.name }) as Answer)
      : [];
  const rcode = records ? RCODES.NOERROR : RCODES[options.unknownRcode ?? 'NXDOMAIN'];
  const flags =
    ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
    dnsPacket.AUTHORITATIVE_ANSWER |
    (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    rcode;
  return { type: 'response', id: query.id, flags, questions: query.questions, answers };
}

function findRecords(zone: Zone, name: string): ZoneRecord[] | undefined {
  const wanted = name.toLowerCase().replace(/\.$/, '');
  const key = Object.keys(zone).find((k) => k.toLowerCase().replace(/\.$/, '') === wanted);
  return key === undefined ? undefined : zone[key];
}

/** The same reply under another id, answering 127.9.9.9: must never be believed. */
function decoy(reply: Buffer): Buffer {
  const packet = dnsPacket.decode(reply);
  const name = packet.questions?.[0]?.name ?? '.';
  return dnsPacket.encode({
    ...packet,
    id: ((packet.id ?? 0) + 1) & 0xffff,
    flags: (packet.flags ?? 0) & ~dnsPacket.TRUNCATED_RESPONSE,
    answers: [{ type: 'A', name, ttl: 1, data: '127.9.9.9' }],
  });
}

function readFrames(socket: net.Socket, onFrame: (frame: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const length = buffered.readUInt16BE(0);
      onFrame(buffered.subarray(2, 2 + length));
      buffered = buffered.subarray(2 + length);
    }
  });
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(length);
  return prefix;
}

/** A UDP socket and a TCP server on one port: retried because the TCP port may be taken. */
async function bindPair(host: string): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => udp.bind(0, host, resolve));
    const port = udp.address().port;
    const tcp = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, host, () => resolve(true));
    });
    if (listening) return { udp, tcp, port };
    udp.close();
  }
  throw new Error(`could not bind UDP and TCP on one port of ${host}`);
}
