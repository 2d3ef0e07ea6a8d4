/** What a step hands back (outputs, summary) and its failed-verdict error: shared by the steps and the layers below them. */
import type { SwitchMark } from './engines/engine.js';
import type { LagPoint } from './report/lag-chart.js';
import { UserError } from './errors.js';
import type { StepName, StepOutputs } from './inputs.js';

/** What a step hands back: its outputs, the job summary and, from await-lag-zero, the lag over time. */
interface Result<O> {
  outputs: O;
  /** Markdown for the job summary. */
  summary: string;
  /** Lag over time, from await-lag-zero: for charts in reports. */
  lagHistory?: LagPoint[];
  /** The switch's moments (cutover): epoch ms, what happened, the phase that ended there. */
  timeline?: SwitchMark[];
}

/**
 * What step S hands back. Its outputs are exactly those OUTPUTS declares for S, so that a step
 * setting an undeclared output, or leaving a declared one out, does not compile. Without S (any
 * step: the callers that only pass the outputs on) they are a plain record.
 */
export type StepResult<S extends StepName = StepName> = Result<StepName extends S ? Record<string, string> : StepOutputs<S>>;

/**
 * A step that ran to its end but whose verdict is a failure (verify found a mismatch): the caller
 * still sets the outputs and the job summary from `result`, then fails with the message.
 */
export class StepFailed extends UserError {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message);
    this.name = 'StepFailed';
  }
}
