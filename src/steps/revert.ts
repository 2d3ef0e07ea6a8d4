/**
 * revert: puts back everything tune-target changed, from its `tuning` output or the migration
 * record: every engine setting (live where it can change at runtime, and zdm's persisted settings
 * removed) and every kernel value, with the drop-in removed. Running it twice is harmless.
 */
import { openEngine, tuningOf } from '../engines/index.js';
import type { Engine, StepContext, TuningPlan } from '../engines/engine.js';
import { InputError } from '../errors.js';
import { heading, table } from '../report/markdown.js';
import { KernelTuner } from '../tuning/kernel-tuner.js';
import { numbers } from '../tuning/sysctl.js';
import type { StepResult } from './step.js';

/** What restoreTuning put back: table rows [setting, tune-target set, restored to] and the names. */
export interface Restored {
  rows: string[][];
  restored: string[];
}

/** Restores every engine and kernel setting of `plan` on the target (revert, abort). */
export async function restoreTuning(ctx: StepContext, engine: Engine, plan: TuningPlan): Promise<Restored> {
  const { inputs, log } = ctx;
  const rows: string[][] = [];
  const restored: string[] = [];
  await log.group(`Restoring ${plan.items.length} ${plan.engine} setting(s)`, async () => {
    await engine.tuning.revert(plan.items);
    for (const i of plan.items) {
      log.info(`${i.name}: ${i.value} -> ${i.original}${i.applies === 'restart' ? ' (takes effect at the next start)' : ''}`);
      rows.push([i.name, i.value, i.original]);
      restored.push(i.name);
    }
  });
  const k = plan.kernel;
  if (k && inputs.kernelTuning === 'off') log.warn('kernel-tuning: off: the kernel settings tune-target changed are left as they are');
  else if (k) {
    await log.group(`Restoring the kernel settings (${k.root}, ${k.dropin})`, async () => {
      const done = await new KernelTuner(ctx.targetHost, log, inputs.kernelTuning).revert(k);
      for (const i of k.items.filter((x) => x.applied && done.includes(x.key))) {
        const orig = numbers(i.original!)!.join(' ');
        log.info(`${i.key}: ${i.value} -> ${orig}`);
        rows.push([i.key, i.value, orig]);
        restored.push(i.key);
      }
      if (done.includes(k.dropin)) log.info(k.dropinOriginal === null ? `removed ${k.dropin}` : `restored ${k.dropin} as it was`);
    });
  }
  return { rows, restored };
}

export async function revert(ctx: StepContext): Promise<StepResult<'revert'>> {
  const plan = tuningOf(ctx);
  if (!plan)
    throw new InputError(
      'tuning',
      `is required by revert when the migration record (${ctx.journal ? ctx.journal.store.pathOf(ctx.journal.record.id) : 'state-dir'}) holds no tune-target plan: pass tune-target's \`tuning\` output, which holds the original values`,
    );
  const engine = openEngine(ctx);
  let done: Restored;
  try {
    done = await restoreTuning(ctx, engine, plan);
  } finally {
    await engine.close();
  }
  ctx.log.info(`restored ${done.restored.length} setting(s) to their original values`);
  const summary =
    heading('zdm revert') +
    (done.rows.length ? table(['setting', 'tune-target set', 'restored to'], done.rows) : 'tune-target had changed nothing.\n') +
    (plan.kernel?.dropinWritten ? `\nDrop-in \`${plan.kernel.dropin}\` ${plan.kernel.dropinOriginal === null ? 'removed' : 'restored'}.\n` : '');
  return { outputs: { reverted: done.restored.join(',') }, summary };
}
