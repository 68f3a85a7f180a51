import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';

/** A failure worth showing to the operator as-is ("query failed: <message>"). */
export class DnsQueryError extends Error {}

export interface DnsExchange {
  host: string;
  port: number;
  name: string;
  /** dns-packet type name, e.g. 'A', 'SPF'. */
  type: string;
  signal: AbortSignal;
  localAddress?: string;
  /** Budget for the whole exchange: lookup, UDP tries and the TCP fallback. */
  timeoutMs: number;
  /** When the UDP query is sent once more if nothing came back (lost datagrams). */
  udpRetryMs: number;
}

export interface DnsReply {
  packet: DecodedPacket;
  rcode: string;
  transport: 'udp' | 'tcp';
}

/**
 * One query the way miekg's Client.Exchange did it (RD set, no EDNS), plus what it lacked:
 * a UDP retransmit, and TCP when the UDP reply is truncated. Rejects with DnsQueryError.
 */
export async function exchange(request: DnsExchange): Promise<DnsReply> {
  const controller = new AbortController();
  const abortWith = (message: string) => controller.abort(new DnsQueryError(message));
  const timer = setTimeout(() => abortWith(`timed out after ${request.timeoutMs / 1000}s`), request.timeoutMs);
  const onAbort = () => abortWith('aborted');
  if (request.signal.aborted) onAbort();
  else request.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const wire: Wire = {
      address: await resolveServer(request.host, request.localAddress, controller.signal),
      port: request.port,
      id: randomInt(0, 0x10000),
      localAddress: request.localAddress,
      signal: controller.signal,
      message: Buffer.alloc(0),
    };
    wire.message = encodeQuery(request.name, request.type, wire.id);
    const udp = await udpExchange(wire, request.udpRetryMs);
    if (!udp.flag_tc) return reply(udp, 'udp');
    try {
      return reply(await tcpExchange(wire), 'tcp');
    } catch (err) {
      // miekg returned the truncated reply as is: its partial answers still count.
      if (udp.answers?.length) return reply(udp, 'udp');
      throw err;
    }
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

function reply(packet: DecodedPacket, transport: 'udp' | 'tcp'): DnsReply {
  // dns-packet's header decode names the rcode; its typings omit it.
  const rcode = (packet as DecodedPacket & { rcode?: string }).rcode ?? 'NOERROR';
  return { packet, rcode, transport };
}

export function encodeQuery(name: string, type: string, id: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    // SPF is missing from the typings' RecordType but dns-packet encodes it (99).
    questions: [{ name, type: type as RecordType, class: 'IN' }],
  });
}

interface Wire {
  address: string;
  port: number;
  id: number;
  message: Buffer;
  localAddress?: string;
  signal: AbortSignal;
}

/** A hostname server is resolved in the source address's family so binding can work. */
async function resolveServer(host: string, localAddress: string | undefined, signal: AbortSignal): Promise<string> {
  if (net.isIP(host)) return host;
  const family = localAddress ? net.isIP(localAddress) : 0;
  const resolved = lookup(host, { family }).then(
    (r) => r.address,
    (err: NodeJS.ErrnoException) => {
      throw new DnsQueryError(`cannot resolve server ${host} (${err.code ?? err.message})`);
    },
  );
  return settle<string>(signal, (resolve, reject) => {
    resolved.then(resolve, reject);
    return () => {};
  });
}

/**
 * Connected UDP socket: the kernel drops datagrams from anyone but the server and reports
 * ICMP port-unreachable as ECONNREFUSED. Wrong-id or unparsable datagrams are ignored.
 */
function udpExchange(wire: Wire, retryMs: number): Promise<DecodedPacket> {
  return settle<DecodedPacket>(wire.signal, (resolve, reject) => {
    const socket = dgram.createSocket(net.isIP(wire.address) === 6 ? 'udp6' : 'udp4');
    let retry: NodeJS.Timeout | undefined;
    const fail = (err: Error) => reject(new DnsQueryError(`UDP ${err.message} (server ${wire.address}:${wire.port})`));
    const send = () => socket.send(wire.message, (err) => err && fail(err));
    socket.on('error', fail);
    socket.on('message', (datagram: Buffer) => {
      const packet = matchingReply(datagram, wire.id, false);
      if (packet instanceof Error) reject(packet);
      else if (packet) resolve(packet);
    });
    const connect = () =>
      socket.connect(wire.port, wire.address, () => {
        send();
        retry = setTimeout(send, retryMs);
      });
    if (wire.localAddress) socket.bind({ address: wire.localAddress, port: 0 }, connect);
    else connect();
    return () => {
      clearTimeout(retry);
      socket.removeAllListeners('message');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // already closed by a failed bind: nothing left to release
      }
    };
  });
}

/** RFC 1035 §4.2.2: each message is preceded by a two-byte length. */
function tcpExchange(wire: Wire): Promise<DecodedPacket> {
  return settle<DecodedPacket>(wire.signal, (resolve, reject) => {
    const socket = net.connect({ host: wire.address, port: wire.port, localAddress: wire.localAddress });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(wire.message.length);
    socket.once('connect', () => socket.write(Buffer.concat([prefix, wire.message])));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const frame = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + frame.length);
        const packet = matchingReply(frame, wire.id, true);
        if (packet instanceof Error) return reject(packet);
        if (packet) return resolve(packet);
      }
    });
    socket.once('end', () => reject(new DnsQueryError('TCP connection closed before a reply')));
    socket.once('error', (err) => reject(new DnsQueryError(`TCP ${err.message}`)));
    return () => socket.destroy();
  });
}

/**
 * The reply to our query, or undefined for a packet to ignore (another id, not a response).
 * Garbage is ignored over UDP (anything can arrive there) but fails a TCP stream.
 */
function matchingReply(bytes: Buffer, id: number, strict: boolean): DecodedPacket | Error | undefined {
  if (bytes.length < 12) return strict ? new DnsQueryError('malformed reply (short message)') : undefined;
  if (bytes.readUInt16BE(0) !== id) return undefined;
  try {
    const packet = dnsPacket.decode(bytes);
    return packet.flag_qr ? packet : undefined;
  } catch (err) {
    return new DnsQueryError(`malformed reply (${(err as Error).message})`);
  }
}

/**
 * A promise settled once: on first resolve/reject or on abort (rejecting with the signal's
 * reason), after which `setup`'s cleanup releases the sockets.
 */
function settle<T>(
  signal: AbortSignal,
  setup: (resolve: (value: T) => void, reject: (err: unknown) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = (action: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      cleanup?.();
      action();
    };
    const onAbort = () => finish(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    const release = setup(
      (value) => finish(() => resolve(value)),
      (err) => finish(() => reject(err)),
    );
    if (settled) release();
    else cleanup = release;
  });
}
