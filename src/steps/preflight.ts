/**
 * preflight: everything that can be checked before the migration changes anything, as one
 * checklist. Any failed row fails the step with every reason and its fix; warnings do not block.
 */
import { openEngine } from '../engines/index.js';
import type { Engine, ServerLimits, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { Checklist } from '../checklist/checklist.js';
import { inScope, runChecks, type CheckResult } from '../checks/check.js';
import { connectionChecks, ServerLimitsOnce } from '../checks/connection.js';
import { judgeSkew, readOffset } from '../checklist/clock.js';
import { judgeTtl } from '../checklist/dns.js';
import { formatAddress, type ProbeResult } from '../checklist/probe.js';
import { defaultPort, hostPortOf, latencyRow, poolRow, type LatencyProbe } from './checks-common.js';
import type { StepResult } from './step.js';
import { poolerChecks } from '../poolers/index.js';

function maxConnectionsRow(list: Checklist, source: ServerLimits, target: ServerLimits): void {
  const ok = target.maxConnections >= source.maxConnections;
  list.add(
    'target max_connections',
    ok ? 'ok' : 'fail',
    ok
      ? `${target.maxConnections} >= the source's ${source.maxConnections}`
      : `${target.maxConnections}, below the source's ${source.maxConnections}: after cutover the application may need as many connections as it has on the source. Raise max_connections on the target to at least ${source.maxConnections} (a restart).`,
  );
}

async function clockRow(list: Checklist, engine: Engine, ctx: StepContext): Promise<void> {
  const clock = ctx.clock ?? Date.now;
  try {
    const source = await readOffset(() => engine.serverNow('source'), clock);
    const target = await readOffset(() => engine.serverNow('target'), clock);
    const v = judgeSkew(source, target, ctx.inputs.maxClockSkewSeconds);
    list.add('clock skew', v.status, v.detail);
  } catch (e) {
    list.add('clock skew', 'fail', `could not read the servers' clocks: ${describeError(e)}`);
  }
}

export async function preflight(ctx: StepContext): Promise<StepResult> {
  const { inputs, log } = ctx;
  const list = new Checklist(log);
  const port = defaultPort(inputs);
  const target = hostPortOf(inputs.targetUrl, port);
  const engine = openEngine(ctx);
  let probes: ProbeResult[] = [];
  try {
    const limits = new ServerLimitsOnce(engine);
    const addRow = { onError: 'fail', onResult: (r: CheckResult) => list.addResult(r) } as const;
    await log.group('Connections', () => runChecks(connectionChecks(limits), addRow));
    const [sourceLimits, targetLimits] = [await limits.known('source'), await limits.known('target')];
    await log.group('Latency', async () => {
      // Through SSH, zdm's SQL reaches the source over the SSH connection: probe that path, from the SSH host on.
      const source: LatencyProbe = ctx.ssh
        ? { row: 'latency to the source (through SSH)', which: 'source', address: ctx.ssh.dbAddress, via: ctx.ssh.connection, limits: sourceLimits }
        : { row: 'latency to the source', which: 'source', address: hostPortOf(inputs.sourceUrl!, port), limits: sourceLimits };
      probes = await Promise.all([
        latencyRow(list, engine, source, inputs),
        latencyRow(list, engine, { row: 'latency to the target', which: 'target', address: target, limits: targetLimits }, inputs),
      ]);
    });
    if (sourceLimits && targetLimits)
      await log.group('Servers', async () => {
        // Versions, privileges, replication settings and disk space: the checks seed-replica itself makes (its `seed` scope).
        await runChecks(inScope(engine.checks(), 'seed'), addRow);
        maxConnectionsRow(list, sourceLimits, targetLimits);
        poolRow(list, targetLimits, inputs, 'target');
        await clockRow(list, engine, ctx);
      });
  } finally {
    await engine.close();
  }
  if (inputs.pooler !== 'none')
    await log.group('Poolers', async () => {
      for (const r of await poolerChecks(inputs)) list.add(r.check, r.status, r.detail);
    });
  if (inputs.appDbHostname) {
    const v = await judgeTtl(inputs.appDbHostname, inputs.dnsServers, inputs.maxDnsTtlSeconds);
    list.add(`DNS TTL of ${inputs.appDbHostname}`, v.status, v.detail);
  }
  const worst = (pick: (p: ProbeResult) => number | undefined) => {
    const v = probes.map(pick).filter((x): x is number => x !== undefined);
    return v.length ? Math.max(...v).toFixed(2) : '';
  };
  const summary = list.markdown('zdm preflight', `Source ${probes[0]?.address ?? '?'}, target ${formatAddress(target.host, target.port)}.`);
  const result = {
    outputs: { checks: list.json(), 'latency-p50-ms': worst((p) => p.p50), 'latency-p99-ms': worst((p) => p.p99), warnings: String(list.count('warn')) },
    summary,
  };
  list.throwIfFailed('preflight failed, nothing was changed', result);
  return result;
}
