/**
 * The logical checks run only when the seed will be logical. A unit wrapped here returns no row at
 * all otherwise (a physical migration's checklist does not fill with skipped logical rows).
 */
import type { CheckUnit, Verdict } from '../../../checks/check.js';
import { pgMethod } from '../logical/method.js';
import type { PgCheckContext } from './context.js';

const RESOLVED = new WeakMap<PgCheckContext, Promise<boolean>>();

/** The method seed-replica will use (logical/method.ts decides `auto` and says why), read once per check run. */
export function usesLogical(c: PgCheckContext): Promise<boolean> {
  let r = RESOLVED.get(c);
  if (!r) {
    r = pgMethod(c.s).then((m) => m.method === 'logical');
    RESOLVED.set(c, r);
  }
  return r;
}

/** The unit as it is under the logical method; no row under the physical one. */
export function logicalOnly(u: CheckUnit<PgCheckContext>): CheckUnit<PgCheckContext> {
  return { ...u, run: async (c): Promise<Verdict | Verdict[]> => ((await usesLogical(c)) ? u.run(c) : []) };
}
