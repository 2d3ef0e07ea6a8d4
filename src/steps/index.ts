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
import { rollback, ROLLBACK_SIDES } from './rollback.js';
import { CUTOVER_SIDES, type StepSides } from '../hosts/endpoint.js';
import { finalize } from './finalize.js';
import { status } from './status.js';
import { abort } from './abort.js';

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
  status,
  abort,
};

/** How each step words errors about the sides (SideError): rollback has its own names, the others cutover's. */
export function sidesOf(step: StepName): StepSides {
  return step === 'rollback' ? ROLLBACK_SIDES : CUTOVER_SIDES;
}
export { StepFailed, type StepResult } from './step.js';
