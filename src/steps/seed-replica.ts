/** seed-replica: preflight, hot copy of the live source, replication started from the copy's position. */
import { openEngine, tuningOf } from '../engines/index.js';
import { recoverInterruptedSeed } from '../engines/data-dir.js';
import type { Engine, StepContext } from '../engines/engine.js';
import { inScope, runChecks, type CheckResult, type Status } from '../checks/check.js';
import { connectionChecks, ServerLimitsOnce } from '../checks/connection.js';
import { Checklist } from '../checklist/checklist.js';
import { UserError } from '../errors.js';
import { formatBytes, formatSeconds } from '../log.js';
import { heading, table } from '../report/markdown.js';
import type { StepResult } from './step.js';
import { ensureReplicationTunnel, stopReplicationTunnel } from '../hosts/transport.js';

const WORD: Record<Status, string> = { ok: 'ok', warn: 'warning', fail: 'failed', skip: 'skipped' };

/**
 * The `seed` scope: logging in to both servers, then the engine's checks. An error (a server out
 * of reach) ends the step as it is; the rows that ran are logged as they come. Skipped ones are left out.
 */
async function seedChecks(engine: Engine, list: Checklist): Promise<CheckResult[]> {
  const units = inScope([...connectionChecks(new ServerLimitsOnce(engine.inspection)), ...engine.seeding.checks()], 'seed');
  await runChecks(units, { onError: 'throw', onResult: (r) => list.addResult(r) });
  return list.rows;
}

export async function seedReplica(given: StepContext): Promise<StepResult<'seed-replica'>> {
  let ctx = given;
  const plan = tuningOf(ctx);
  let tunnelStarted = false;
  if (ctx.ssh && !ctx.inputs.sourceReplicationAddress) {
    // The target's server replicates through a tunnel of its own that outlives this job.
    const address = await ensureReplicationTunnel(ctx.ssh, ctx.inputs, ctx.log);
    tunnelStarted = true;
    // abort and status find it by the record, whatever inputs their runs are given.
    await ctx.journal?.made({ tunnelPort: ctx.inputs.replicationTunnelPort });
    ctx = { ...ctx, inputs: { ...ctx.inputs, sourceReplicationAddress: address } };
  }
  const { inputs, log } = ctx;
  const engine = openEngine(ctx);
  let ok = false;
  try {
    // A re-run after a seed killed midway finds the target down with a partial copy: start from the target as it was.
    const state = await engine.replication.migrationState();
    ctx.journal?.checkAgainst(state, ctx.log);
    log.info(`before seeding: ${state.detail}`);
    if (state.target === 'unreachable') {
      const recovered = await recoverInterruptedSeed(ctx.targetHost, inputs, log);
      if (recovered) log.info(recovered);
    }
    const checks = await log.group('Preflight', () => seedChecks(engine, new Checklist(log)));
    const failed = checks.filter((c) => c.status === 'fail');
    if (failed.length > 0) {
      throw new UserError(`preflight failed, nothing was changed:\n${failed.map((c) => `- ${c.check}: ${c.detail}`).join('\n')}`);
    }
    // From here the source holds a slot (or publication) for the target: the record says so before the copy starts.
    await ctx.journal?.phase('seeding', 'seed-replica copies the source');
    const result = await log.group('Copy the source and start replication', () => engine.seeding.seed(plan));
    log.info(`seeded ${formatBytes(result.bytes)} in ${formatSeconds(result.seconds)}; replication runs from ${result.position}`);
    const summary =
      heading('zdm seed-replica') +
      table(
        ['check', 'result', 'detail'],
        checks.map((c) => [c.check, WORD[c.status], c.detail]),
      ) +
      '\n' +
      table(
        ['seed position', 'copied', 'time', 'source version'],
        [[result.position, formatBytes(result.bytes), formatSeconds(result.seconds), result.sourceVersion]],
      );
    const result2: StepResult<'seed-replica'> = {
      outputs: {
        'seed-position': result.position,
        'replication-slot': inputs.replicationSlot,
        'heartbeat-table': inputs.heartbeatTable,
        'seed-seconds': result.seconds.toFixed(1),
        'source-version': result.sourceVersion,
        method: result.method ?? inputs.method,
        'seed-tool': result.tool ?? '',
      },
      summary,
    };
    ok = true;
    return result2;
  } finally {
    await engine.close();
    if (!ok && tunnelStarted) await stopReplicationTunnel(inputs).catch(() => undefined);
  }
}
