import type { StepContext } from '../engines/engine.js';
import type { StepName } from '../inputs.js';
import type { StepResult } from '../step-result.js';

// StepResult and StepFailed live below the steps (lower layers such as checklist use them).
export { StepFailed, type StepResult } from '../step-result.js';

export type Step = (ctx: StepContext) => Promise<StepResult>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type { StepName };
