/** What a step hands back (outputs, summary) and its failed-verdict error: shared by the steps and the layers below them. */
import type { SwitchMark } from './engines/engine.js';
import type { LagPoint } from './report/lag-chart.js';
import { UserError } from './errors.js';

export interface StepResult {
  outputs: Record<string, string>;
  /** Markdown for the job summary. */
  summary: string;
  /** Lag over time, from await-lag-zero: for charts in reports. */
  lagHistory?: LagPoint[];
  /** The switch's moments (cutover): epoch ms, what happened, the phase that ended there. */
  timeline?: SwitchMark[];
}

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
