/**
 * The logical method laid over the physical capabilities: each operation asks the target which
 * migration it is (a zdm subscription on it means logical) and takes the logical path, else the
 * physical one unchanged. seed-replica decides by the `method` input (auto: logical/method.ts).
 */
import type { Replication, Reverse, Seeding, Switch } from '../../engine.js';
import type { PgFenceUndo } from '../cutover.js';
import type { ReversePlan } from '../reverse.js';
import type { PgSession } from '../session.js';
import { durabilityNotes, logicalCleanup, logicalFinalPosition, logicalPromote, logicalWaitApplied, logicalFence } from './cutover.js';
import { migrationState } from '../state.js';
import { logicalTargetState, measureLogicalLag } from './lag.js';
import { forMethod, isLogicalTarget, pgMethod } from './method.js';
import { seedLogical } from './seed.js';
import {
  abandonReverseStart,
  hasLogicalReverse,
  prepareLogicalReverse,
  startLogicalReverse,
  teardownLogicalReverse,
  type LogicalReversePlan,
} from './reverse.js';

export function logicalSeeding(s: PgSession, physical: Seeding): Seeding {
  return {
    checks: () => forMethod(s, physical.checks()),
    // The method output names the one used, also the one `auto` chose.
    seed: async (plan) => {
      const { method } = await pgMethod(s);
      return { ...(method === 'logical' ? await seedLogical(s) : await physical.seed(plan)), method };
    },
  };
}

export function logicalReplication(s: PgSession, physical: Replication): Replication {
  return {
    ...physical,
    measureLag: async () => ((await isLogicalTarget(s)) ? measureLogicalLag(s) : physical.measureLag()),
    migrationState: () => migrationState(s, logicalTargetState),
  };
}

export function logicalSwitch(s: PgSession, physical: Switch<PgFenceUndo>): Switch<PgFenceUndo> {
  // Asked once per switch, before the fence: the subscription that marks a logical migration only goes
  // with promote, so the answer holds, and the write-blocked window pays no query on the target for it.
  let known: Promise<boolean> | undefined;
  const logical = () => (known ??= isLogicalTarget(s));
  return {
    ...physical,
    fenceMode: async () => (await logicalFence(s)) ?? s.inputs.fence,
    fence: async (resume) => {
      if (await logical()) await logicalFence(s);
      return physical.fence(resume);
    },
    finalPosition: async (f) => ((await logical()) ? logicalFinalPosition(s, f) : physical.finalPosition(f)),
    waitApplied: async (position, timeoutMs) => ((await logical()) ? logicalWaitApplied(s, position, timeoutMs) : physical.waitApplied(position, timeoutMs)),
    promote: async (f) => ((await logical()) ? logicalPromote(s, f) : physical.promote(f)),
    abandonBeforePromotion: async () => ((await logical()) ? abandonReverseStart(s) : ''),
    cleanupAfterPromotion: async () => {
      const l = await logicalCleanup(s);
      return [...l.notes, ...(l.logical ? await durabilityNotes(s) : await physical.cleanupAfterPromotion())];
    },
  };
}

/** The way back: logical replication from the new primary after a logical migration, else the physical one. */
export function logicalReverse(s: PgSession, physical: Reverse<PgFenceUndo, ReversePlan>): Reverse<PgFenceUndo, PgReversePlan> {
  return {
    prepare: async () => ((await isLogicalTarget(s)) ? prepareLogicalReverse(s) : physical.prepare()),
    start: (plan, f, finalPos) => ('kind' in plan ? startLogicalReverse(s, plan, f, finalPos) : physical.start(plan, f, finalPos)),
    teardown: async () => ((await hasLogicalReverse(s)) ? teardownLogicalReverse(s) : physical.teardown()),
  };
}

export type PgReversePlan = ReversePlan | LogicalReversePlan;
