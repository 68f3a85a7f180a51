import { onTestFinished } from 'vitest';
import { startDnsServer, type DnsServer, type DnsServerOptions, type Zone } from '../../src/demo/dns-server.ts';

export type { DnsServer, DnsServerOptions, ReceivedQuery, Zone, ZoneRecord } from '../../src/demo/dns-server.ts';

/** A loopback DNS server (UDP + TCP on one random port) closed when the test finishes. */
export async function dnsServer(zone: Zone, options: DnsServerOptions = {}): Promise<DnsServer> {
  const server = await startDnsServer(zone, options);
  onTestFinished(() => server.close());
  return server;
}
