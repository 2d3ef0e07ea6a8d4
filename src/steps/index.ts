import type { StepName } from '../inputs.js';
import type { Step } from './step.js';
import { tuneTarget } from './tune-target.js';
import { seedReplica } from './seed-replica.js';
import { awaitLagZero } from './await-lag-zero.js';
import { cutover } from './cutover.js';
import { revert } from './revert.js';
import { preflight } from './preflight.js';
import { postCutover } from './post-cutover.js';
import { verify } from './verify.js';
import { rollback } from './rollback.js';
import { finalize } from './finalize.js';

export const STEP_RUNNERS: { readonly [S in StepName]: Step<S> } = {
  preflight,
  'tune-target': tuneTarget,
  'seed-replica': seedReplica,
  'await-lag-zero': awaitLagZero,
  cutover,
  'post-cutover': postCutover,
  revert,
  verify,
  rollback,
  finalize,
};
export { StepFailed, type StepResult } from './step.js';
