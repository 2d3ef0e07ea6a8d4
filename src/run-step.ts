/** Runs one step from raw inputs: the single path shared by the action, the CLI and the rehearsal. */
import type { StepContext } from './engines/engine.js';
import { LocalHost } from './hosts/local.js';
import { withOpenClientsClosed } from './engines/open-clients.js';
import { openTransport } from './hosts/transport.js';
import { readInputs, secretValues, type RawInputs, type StepName } from './inputs.js';
import type { Log } from './log.js';
import { STEP_RUNNERS, type StepResult } from './steps/index.js';

/** What a caller may put in place of the defaults: a test's skewed clock, a target host that reports little free disk. */
export type StepOverrides = Partial<Pick<StepContext, 'clock' | 'targetHost'>>;

export async function runStep(step: StepName, raw: RawInputs, log: Log, overrides: StepOverrides = {}): Promise<StepResult> {
  for (const s of secretValues(step, raw)) log.secret(s);
  const transport = await openTransport(readInputs(step, raw), log);
  try {
    const local = new LocalHost();
    const ctx: StepContext = {
      inputs: transport.inputs,
      log,
      targetHost: local,
      sourceHost: transport.sourceHost,
      runnerHost: local,
      ssh: transport.ssh,
      ...overrides,
    };
    return await withOpenClientsClosed(() => STEP_RUNNERS[step](ctx));
  } finally {
    await transport.close();
  }
}
