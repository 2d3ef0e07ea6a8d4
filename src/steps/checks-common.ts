/** Checks that preflight and post-cutover share: connect latency, and max_connections against the application's pool. */
import type { ServerLimits } from '../engines/engine.js';
import type { Inputs } from '../inputs.js';
import { Checklist } from '../checklist/checklist.js';
import { judgeProbe, probeTcp, type ProbeResult } from '../checklist/probe.js';

export function defaultPort(inputs: Inputs): number {
  return inputs.engine === 'postgres' ? 5432 : 3306;
}

export function hostPortOf(url: URL, port: number): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || port) };
}

/** 100 TCP connects from the runner to `to`, as a checklist row. */
export async function latencyRow(list: Checklist, name: string, to: { host: string; port: number }, inputs: Inputs): Promise<ProbeResult> {
  const r = await probeTcp(to.host, to.port, { count: 100 });
  const v = judgeProbe(r, inputs.maxLatencyMs);
  list.add(name, v.status, v.detail);
  return r;
}

/** The application's pool must fit in the connections the new server gives non-superusers. */
export function poolRow(list: Checklist, limits: ServerLimits, inputs: Inputs, server: string): void {
  const usable = limits.maxConnections - limits.reservedConnections;
  const figures = `max_connections ${limits.maxConnections}${limits.reservedConnections ? ` (${usable} for non-superusers)` : ''}`;
  if (inputs.appPoolSize === undefined) {
    list.add('connections for the application', 'ok', `${figures}; app-pool-size not given, so the pool was not compared`);
    return;
  }
  if (usable < inputs.appPoolSize)
    list.add(
      'connections for the application',
      'fail',
      `${figures} on the ${server}, below app-pool-size ${inputs.appPoolSize}: the application would be refused connections. Raise max_connections on the ${server} to at least ${inputs.appPoolSize + limits.reservedConnections} (a restart), or shrink the pools.`,
    );
  else list.add('connections for the application', 'ok', `${figures} >= app-pool-size ${inputs.appPoolSize}`);
}
