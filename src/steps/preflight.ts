/**
 * preflight: everything that can be checked before the migration changes anything, as one
 * checklist. Any failed row fails the step with every reason and its fix; warnings do not block.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { Checklist } from '../checklist/checklist.js';
import { bind, inScope, type CheckUnit } from '../checks/check.js';
import { connectionChecks, ServerLimitsOnce } from '../checks/connection.js';
import { LATENCY_CHECKS, PreflightContext, SERVER_CHECKS, SURROUNDING_CHECKS } from '../checks/preflight.js';
import { defaultPort, hostPortOf } from '../checks/probes.js';
import { formatAddress, type ProbeResult } from '../checklist/probe.js';
import type { StepResult } from './step.js';

/**
 * The checks run by scope: `preflight` (its own) and `seed` (what seed-replica enforces: logging in
 * to both servers, then the engine's registry), in groups; the engine's once both servers answered.
 */
export async function preflight(ctx: StepContext): Promise<StepResult<'preflight'>> {
  const { inputs, log } = ctx;
  const list = new Checklist(log);
  const target = hostPortOf(inputs.targetUrl, defaultPort(inputs));
  const engine = openEngine(ctx);
  const limits = new ServerLimitsOnce(engine.inspection);
  const pre = new PreflightContext(ctx, engine, limits);
  const scoped = <C>(units: readonly CheckUnit<C>[], c: C) => inScope(bind(units, c), 'preflight', 'seed');
  try {
    await log.group('Connections', () => list.run(inScope(connectionChecks(limits), 'preflight', 'seed')));
    await log.group('Latency', () => list.run(scoped(LATENCY_CHECKS, pre)));
    if ((await limits.known('source')) && (await limits.known('target')))
      // Versions, privileges, replication settings and disk space: the checks seed-replica itself makes.
      await log.group('Servers', () => list.run([...inScope(engine.seeding.checks(), 'preflight', 'seed'), ...scoped(SERVER_CHECKS, pre)]));
  } finally {
    await engine.close();
  }
  await log.group('Poolers and DNS', () => list.run(scoped(SURROUNDING_CHECKS, pre)));
  const probes = pre.probes;
  const worst = (pick: (p: ProbeResult) => number | undefined) => {
    const v = probes.map(pick).filter((x): x is number => x !== undefined);
    return v.length ? Math.max(...v).toFixed(2) : '';
  };
  const summary = list.markdown('zdm preflight', `Source ${probes[0]?.address ?? '?'}, target ${formatAddress(target.host, target.port)}.`);
  const result: StepResult<'preflight'> = {
    outputs: { checks: list.json(), 'latency-p50-ms': worst((p) => p.p50), 'latency-p99-ms': worst((p) => p.p99), warnings: String(list.count('warn')) },
    summary,
  };
  list.throwIfFailed('preflight failed, nothing was changed', result);
  return result;
}
