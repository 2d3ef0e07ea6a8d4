/** GitHub Actions entry: read the inputs, run one step, set outputs and the job summary. */
import * as core from '@actions/core';
import { describeError } from './errors.js';
import { isStep, STEPS } from './inputs.js';
import type { Log } from './log.js';
import { runStep } from './run-step.js';
import { StepFailed } from './steps/step.js';

const actionsLog: Log = {
  info: (m) => core.info(m),
  warn: (m) => core.warning(m),
  group: (title, fn) => core.group(title, fn),
  secret: (v) => core.setSecret(v),
};

export async function runAction(): Promise<void> {
  try {
    const step = core.getInput('step');
    if (!isStep(step)) {
      throw new Error(`input step must be one of ${STEPS.join(', ')} (got ${JSON.stringify(step)})`);
    }
    const result = await runStep(step, (name) => core.getInput(name), actionsLog);
    for (const [name, value] of Object.entries(result.outputs)) core.setOutput(name, value);
    if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(result.summary).write();
  } catch (e) {
    if (e instanceof StepFailed) {
      for (const [name, value] of Object.entries(e.result.outputs)) core.setOutput(name, value);
      if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(e.result.summary).write();
    }
    core.setFailed(describeError(e));
  }
}
