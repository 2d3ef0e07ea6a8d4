import type { StepName } from '../inputs.js';
import type { Step } from './step.js';
import { tuneTarget } from './tune-target.js';
import { seedReplica } from './seed-replica.js';
import { awaitLagZero } from './await-lag-zero.js';
import { cutover } from './cutover.js';
import { rollback } from './rollback.js';
import { finalize } from './finalize.js';

export const STEP_RUNNERS: Record<StepName, Step> = {
  'tune-target': tuneTarget,
  'seed-replica': seedReplica,
  'await-lag-zero': awaitLagZero,
  cutover,
  rollback,
  finalize,
};
export type { StepResult } from './step.js';
