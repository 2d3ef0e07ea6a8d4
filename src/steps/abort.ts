/** abort: abandons a migration before promotion, undoing everything its record names on both sides. */
import type { StepContext } from '../engines/engine.js';
import type { StepResult } from './step.js';

export async function abort(_ctx: StepContext): Promise<StepResult<'abort'>> {
  throw new Error('abort: not yet');
}
