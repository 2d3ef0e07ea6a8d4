/**
 * cutover's way back (reverse-replication: true): proven before the fence, set up right after
 * promotion. A failure after promotion does not undo the switch (the target IS the primary); it
 * is reported loudly and rollback then refuses.
 */
import type { Engine, Fence, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { info, warning, type Note } from '../notes.js';
import type { Timeline } from './switchover.js';
import type { StepOutputs } from '../inputs.js';

/** What the reverse setup needs, proven before writes are blocked. */
export interface PreparedReverse {
  plan: unknown;
}

export async function prepareReverse(engine: Engine, _ctx: StepContext): Promise<PreparedReverse> {
  // Over SSH it is refused by readInputs already, before any connection is made.
  return { plan: await engine.reverse.prepare() };
}

export async function startReverse(
  engine: Engine,
  ctx: StepContext,
  prepared: PreparedReverse | undefined,
  fence: Fence,
  finalPos: string,
  tl: Timeline,
  notes: Note[],
): Promise<Pick<StepOutputs<'cutover'>, 'reverse-replication' | 'reverse-position' | 'reverse-from'>> {
  const none = { 'reverse-position': '', 'reverse-from': '' };
  if (!prepared) return { 'reverse-replication': 'off', ...none };
  try {
    const r = await engine.reverse.start(prepared.plan, fence, finalPos);
    tl.mark(`reverse replication running: the old source replicates from ${r.from}, from ${r.position}`);
    notes.push(...r.notes, info('rollback can switch back until finalize declares the migration final'));
    return { 'reverse-replication': 'running', 'reverse-position': r.position, 'reverse-from': r.from };
  } catch (e) {
    notes.push(
      warning(
        `setting up reverse replication failed: ${describeError(e)}. The target IS the primary; there is no way back by rollback (it refuses), fix the old source by hand or seed it anew.`,
      ),
    );
    ctx.log.warn(`reverse replication failed: ${describeError(e)}`);
    return { 'reverse-replication': 'failed', ...none };
  }
}
