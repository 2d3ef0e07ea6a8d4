/**
 * post-cutover: the final checklist on the new primary. Reachable and fast from the runner, room
 * for the application's pool, writable and durable, backed up, and feeding its own replicas when
 * it should. Any failed row fails the step; nothing is changed.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { Checklist } from '../checklist/checklist.js';
import { bind, inScope } from '../checks/check.js';
import { backups } from '../checks/backups.js';
import { NEW_PRIMARY_CHECKS, NewPrimaryContext } from '../checks/new-primary.js';
import type { StepResult } from './step.js';

export async function postCutover(ctx: StepContext): Promise<StepResult<'post-cutover'>> {
  const { log } = ctx;
  const list = new Checklist(log);
  const engine = openEngine(ctx);
  const endpoint = engine.switch.endpoint();
  const primary = new NewPrimaryContext(ctx, engine);
  try {
    await log.group('The new primary', () => list.run(inScope(bind(NEW_PRIMARY_CHECKS, primary), 'post-cutover')));
  } finally {
    await engine.close();
  }
  await log.group('Backups', () => list.run(inScope(bind([backups], { step: ctx, endpoint }), 'post-cutover')));
  const p50 = primary.probe?.p50?.toFixed(2) ?? '';
  const p99 = primary.probe?.p99?.toFixed(2) ?? '';
  const summary = list.markdown('zdm post-cutover checklist', `New primary: \`${endpoint}\`.`);
  const result: StepResult<'post-cutover'> = { outputs: { checks: list.json(), 'latency-p50-ms': p50, 'latency-p99-ms': p99 }, summary };
  list.throwIfFailed('post-cutover checklist failed', result);
  return result;
}
