/** tune-target: catch-up settings on the target, sized to its machine, with the originals recorded. */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { formatBytes } from '../log.js';
import { heading, table } from '../report/markdown.js';
import type { StepResult } from './step.js';

export async function tuneTarget(ctx: StepContext): Promise<StepResult> {
  const { inputs, log } = ctx;
  const engine = openEngine(ctx);
  try {
    const memoryBytes = inputs.targetMemory ?? (await ctx.targetHost.memoryBytes());
    const cpus = await ctx.targetHost.cpuCount();
    const plan = await engine.planTuning({ memoryBytes, cpus });
    await log.group(`Catch-up settings for a target with ${formatBytes(memoryBytes)} RAM and ${cpus} CPUs`, async () => {
      if (plan.items.length === 0) log.info('every setting already has its catch-up value; nothing to change');
      for (const i of plan.items) log.info(`${i.name}: ${i.original} -> ${i.value} (${i.applies === 'restart' ? 'at next start' : 'now'}): ${i.reason}`);
    });
    await engine.applyTuning(plan);
    log.info(`applied ${plan.items.length} setting(s); cutover restores the catch-up ones from the \`tuning\` output`);
    const summary =
      heading('zdm tune-target') +
      `Target: ${formatBytes(memoryBytes)} RAM, ${cpus} CPUs.\n\n` +
      table(
        ['setting', 'original', 'catch-up value', 'takes effect', 'after cutover', 'why'],
        plan.items.map((i) => [i.name, i.original, i.value, i.applies === 'restart' ? 'next start' : 'now', i.revertAtCutover ? 'restored' : 'kept', i.reason]),
      );
    return { outputs: { tuning: JSON.stringify(plan), engine: engine.kind }, summary };
  } finally {
    await engine.close();
  }
}
