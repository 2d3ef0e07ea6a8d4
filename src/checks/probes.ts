/** What preflight and post-cutover both check: connect latency from the runner, and max_connections against the application's pool. */
import type { Inspection, ServerLimits } from '../engines/engine.js';
import type { SshConnection } from '../hosts/ssh.js';
import type { Inputs } from '../inputs.js';
import { formatAddress, judgeProbe, probe, sshOpener, tcpOpener, type ProbeResult } from '../checklist/probe.js';
import { fail, ok, type Verdict } from './check.js';

export function defaultPort(inputs: Inputs): number {
  return inputs.engine === 'postgres' ? 5432 : 3306;
}

export function hostPortOf(url: URL, port: number): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || port) };
}

export interface LatencyProbe {
  /** The row's title. */
  row: string;
  which: 'source' | 'target';
  /** The server's address, as the runner (or, with `via`, the SSH host) reaches it. */
  address: { host: string; port: number };
  /** Probe through this open SSH connection instead of from the runner. */
  via?: SshConnection;
  /** The server's limits; undefined when logging in failed. */
  limits?: ServerLimits;
}

/**
 * 100 connects from the runner to a server, as a verdict titled `p.row`. MySQL/MariaDB count connections
 * closed before login against the runner's address and block it at max_connect_errors (100 by
 * default), so there a real login clears the count every few probes; a server whose limits are
 * unknown (login failed) gets only enough probes to tell whether it is reachable.
 */
export async function latencyCheck(engine: Pick<Inspection, 'freshLogin'>, p: LatencyProbe, inputs: Inputs): Promise<{ verdict: Verdict; probe: ProbeResult }> {
  const { host, port } = p.address;
  const address = formatAddress(host, port) + (p.via ? ` through SSH ${p.via.label}` : '');
  const limit = p.limits?.preAuthErrorLimit ?? (inputs.engine === 'postgres' ? Infinity : undefined);
  if (limit !== undefined && limit < 4) {
    return {
      verdict: {
        check: p.row,
        status: 'warn',
        detail: `not probed: max_connect_errors is ${limit}, so connections closed before login would get the runner's address blocked. Raise max_connect_errors (the default is 100).`,
      },
      probe: { address, attempts: 0, failures: 0, samplesMs: [] },
    };
  }
  const open = p.via ? sshOpener(p.via, host, port) : await tcpOpener(host, port);
  const r = await probe(address, open, {
    count: limit === undefined ? 3 : 100,
    clearEvery: limit === undefined || limit === Infinity ? undefined : Math.min(10, Math.floor((limit - 1) / 2)),
    clear: () => engine.freshLogin(p.which),
  });
  return { verdict: { check: p.row, ...judgeProbe(r, inputs.maxLatencyMs) }, probe: r };
}

/** The application's pool must fit in the connections the new server gives non-superusers (row: 'connections for the application'). */
export function poolCheck(limits: ServerLimits, inputs: Inputs, server: string): Verdict {
  const usable = limits.maxConnections - limits.reservedConnections;
  const figures = `max_connections ${limits.maxConnections}${limits.reservedConnections ? ` (${usable} for non-superusers)` : ''}`;
  if (inputs.appPoolSize === undefined) return ok(`${figures}; app-pool-size not given, so the pool was not compared`);
  if (usable < inputs.appPoolSize)
    return fail(
      `${figures} on the ${server}, below app-pool-size ${inputs.appPoolSize}: the application would be refused connections. Raise max_connections on the ${server} to at least ${inputs.appPoolSize + limits.reservedConnections} (a restart), or shrink the pools.`,
    );
  return ok(`${figures} >= app-pool-size ${inputs.appPoolSize}`);
}
