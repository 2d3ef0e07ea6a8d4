/** status: where the migration stands, read from its record and both servers; changes nothing. */
import type { StepContext } from '../engines/engine.js';
import type { StepResult } from './step.js';

export async function status(_ctx: StepContext): Promise<StepResult<'status'>> {
  throw new Error('status: not yet');
}
