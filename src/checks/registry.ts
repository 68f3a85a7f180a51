import type { CheckType } from './types.ts';
import { tcpCheck } from './tcp.ts';
import { dnsCheck } from './dns.ts';
import { icmpCheck } from './icmp.ts';
import { sslExpireCheck } from './ssl_expire.ts';
import { httpCheck } from './http.ts';

/** Every check type bearmon knows. Adding a type means adding its file and one line here. */
export const builtinCheckTypes: readonly CheckType[] = [tcpCheck, dnsCheck, icmpCheck, sslExpireCheck, httpCheck];

export type CheckRegistry = ReadonlyMap<string, CheckType>;

/** Builds the lookup table; refuses to start on a duplicate type name. */
export function createCheckRegistry(types: readonly CheckType[] = builtinCheckTypes): CheckRegistry {
  const registry = new Map<string, CheckType>();
  for (const check of types) {
    if (registry.has(check.type)) throw new Error(`duplicate check type ${JSON.stringify(check.type)} in registry`);
    registry.set(check.type, check);
  }
  return registry;
}
