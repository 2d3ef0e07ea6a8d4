/** Runs one step from raw inputs: the single path shared by the action, the CLI and the rehearsal. */
import type { StepContext } from './engines/engine.js';
import { LocalHost } from './hosts/local.js';
import { readInputs, secretValues, type RawInputs, type StepName } from './inputs.js';
import type { Log } from './log.js';
import { STEP_RUNNERS, type StepResult } from './steps/index.js';

export async function runStep(step: StepName, raw: RawInputs, log: Log): Promise<StepResult> {
  for (const s of secretValues(step, raw)) log.secret(s);
  const inputs = readInputs(step, raw);
  const host = new LocalHost();
  const ctx: StepContext = { inputs, log, targetHost: host, sourceHost: host, runnerHost: host };
  return STEP_RUNNERS[step](ctx);
}
