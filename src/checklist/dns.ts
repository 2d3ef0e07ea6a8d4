/** The DNS TTL of the application's database host name: how long clients keep the old address after a DNS change. */
import { promises as dns } from 'node:dns';
import * as net from 'node:net';
import { InputError } from '../errors.js';

export interface TtlReading {
  addresses: string[];
  /** The largest TTL among the records, in seconds. */
  ttl: number;
  family: 'A' | 'AAAA';
}

/** A resolver asking `servers` (comma-separated ip or ip:port), or the system's resolvers when empty. */
export function resolverFor(servers: string): dns.Resolver {
  const r = new dns.Resolver({ timeout: 2000, tries: 2 });
  const list = servers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length) {
    try {
      r.setServers(list);
    } catch (e) {
      throw new InputError('dns-servers', `must be comma-separated addresses such as 10.0.0.2 or 127.0.0.1:5353 (${(e as Error).message})`);
    }
  }
  return r;
}

const missing = (e: unknown) => ['ENODATA', 'ENOTFOUND'].includes((e as NodeJS.ErrnoException).code ?? '');

/** Reads the A records of `host` with their TTLs, falling back to AAAA when there are none. */
export async function readTtl(host: string, resolver: dns.Resolver): Promise<TtlReading> {
  try {
    const a = await resolver.resolve4(host, { ttl: true });
    if (a.length) return { addresses: a.map((x) => x.address), ttl: Math.max(...a.map((x) => x.ttl)), family: 'A' };
  } catch (e) {
    if (!missing(e)) throw e;
  }
  const aaaa = await resolver.resolve6(host, { ttl: true });
  return { addresses: aaaa.map((x) => x.address), ttl: Math.max(...aaaa.map((x) => x.ttl)), family: 'AAAA' };
}

/** A checklist verdict for the TTL of app-db-hostname. */
export async function judgeTtl(host: string, servers: string, maxTtl: number): Promise<{ status: 'ok' | 'warn' | 'fail'; detail: string }> {
  if (net.isIP(host)) return { status: 'ok', detail: `${host} is an address, not a name: no DNS TTL to wait for` };
  const resolver = resolverFor(servers);
  const via = servers ? ` (asked ${servers})` : '';
  let r: TtlReading;
  try {
    r = await readTtl(host, resolver);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return {
      status: 'fail',
      detail: `cannot resolve ${host}${via}: ${code}. Check app-db-hostname, or set dns-servers to a resolver that knows the name (or leave app-db-hostname empty to skip this check).`,
    };
  }
  const records = `${r.family} ${r.addresses.join(', ')}`;
  if (r.ttl > maxTtl)
    return {
      status: 'warn',
      detail: `TTL of ${host} is ${r.ttl} s${via} (${records}), above max-dns-ttl-seconds (${maxTtl} s): after cutover, clients may keep the old address for ${r.ttl} s. Lower the TTL to ${maxTtl} s or less a day ahead (at least one old TTL before cutover).`,
    };
  return { status: 'ok', detail: `TTL ${r.ttl} s${via} (${records})` };
}
