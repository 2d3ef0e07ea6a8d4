import type { Engine, StepContext, TuningPlan } from './engine.js';
import { InputError } from '../errors.js';
import { kernelPlanProblem } from '../tuning/sysctl.js';
import { postgresEngine } from './postgres/index.js';
import { mysqlEngine } from './mysql/index.js';

/** The engine for the inputs' engine kind. Adding an engine means adding a case here and a folder. */
export function openEngine(ctx: StepContext): Engine {
  switch (ctx.inputs.engine) {
    case 'postgres':
      return postgresEngine(ctx);
    case 'mariadb':
    case 'mysql':
      return mysqlEngine(ctx);
  }
}

/**
 * tune-target's plan for this step: the `tuning` input when given, else what tune-target wrote
 * into the migration record (so that a later workflow run needs no earlier job's output).
 */
export function tuningOf(ctx: Pick<StepContext, 'inputs' | 'journal'>): TuningPlan | undefined {
  return tuningFromInput(ctx.inputs.tuning ?? ctx.journal?.tuning(), ctx.inputs.engine);
}

/** Validates the `tuning` input (tune-target's output). */
export function tuningFromInput(value: unknown, engine: string): TuningPlan | undefined {
  if (value === undefined) return undefined;
  const p = value as TuningPlan;
  if (
    !p ||
    typeof p !== 'object' ||
    !Array.isArray(p.items) ||
    p.items.some((i) => typeof i?.name !== 'string' || typeof i?.original !== 'string' || typeof i?.value !== 'string')
  ) {
    throw new InputError('tuning', 'is not the `tuning` output of tune-target: pass `${{ needs.<tune job>.outputs.tuning }}` unchanged');
  }
  if (p.engine !== engine) throw new InputError('tuning', `was made for engine ${p.engine}, but this step runs ${engine}`);
  const kernelProblem = p.kernel === undefined ? undefined : kernelPlanProblem(p.kernel);
  if (kernelProblem) throw new InputError('tuning', `has a kernel part zdm did not write (${kernelProblem}): pass tune-target's output unchanged`);
  if (p.dryRun)
    throw new InputError(
      'tuning',
      'is the output of a dry run (dry-run: true): nothing was applied, so there is nothing to carry over or restore. Run tune-target without dry-run',
    );
  return p;
}
