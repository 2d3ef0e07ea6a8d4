import type { StepContext } from '../engines/engine.js';
import type { StepName } from '../inputs.js';
import type { StepResult } from '../step-result.js';

// StepResult and StepFailed live below the steps (lower layers such as checklist use them).
export { StepFailed, type StepResult } from '../step-result.js';

/** A step: what it returns is typed by the outputs OUTPUTS declares for it. */
export type Step<S extends StepName> = (ctx: StepContext) => Promise<StepResult<S>>;

export type { StepName };
