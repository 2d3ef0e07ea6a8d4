/** seed-replica: preflight, hot copy of the live source, replication started from the copy's position. */
import { openEngine, tuningFromInput } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { UserError } from '../errors.js';
import { formatBytes, formatSeconds } from '../log.js';
import { heading, table } from '../report/markdown.js';
import type { StepResult } from './step.js';

export async function seedReplica(ctx: StepContext): Promise<StepResult> {
  const { inputs, log } = ctx;
  const plan = tuningFromInput(inputs.tuning, inputs.engine);
  const engine = openEngine(ctx);
  try {
    const checks = await log.group('Preflight', async () => {
      const c = await engine.preflightSeed();
      for (const ch of c) log.info(`${ch.ok ? 'ok  ' : 'FAIL'} ${ch.name}: ${ch.detail}`);
      return c;
    });
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new UserError(`preflight failed, nothing was changed:\n${failed.map((c) => `- ${c.name}: ${c.detail}`).join('\n')}`);
    }
    const result = await log.group('Copy the source and start replication', () => engine.seed(plan));
    log.info(`seeded ${formatBytes(result.bytes)} in ${formatSeconds(result.seconds)}; replication runs from ${result.position}`);
    const summary =
      heading('zdm seed-replica') +
      table(
        ['check', 'result', 'detail'],
        checks.map((c) => [c.name, c.ok ? 'ok' : 'failed', c.detail]),
      ) +
      '\n' +
      table(
        ['seed position', 'copied', 'time', 'source version'],
        [[result.position, formatBytes(result.bytes), formatSeconds(result.seconds), result.sourceVersion]],
      );
    return {
      outputs: {
        'seed-position': result.position,
        'replication-slot': inputs.replicationSlot,
        'heartbeat-table': inputs.heartbeatTable,
        'seed-seconds': result.seconds.toFixed(1),
        'source-version': result.sourceVersion,
      },
      summary,
    };
  } finally {
    await engine.close();
  }
}
