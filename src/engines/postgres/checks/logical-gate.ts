/**
 * The logical checks run only when the seed will be logical. A unit wrapped here returns no row at
 * all otherwise (a physical migration's checklist does not fill with skipped logical rows).
 */
import type { CheckUnit, Verdict } from '../../../checks/check.js';
import type { PgCheckContext } from './context.js';

const RESOLVED = new WeakMap<PgCheckContext, Promise<boolean>>();

/**
 * `method: logical`, or `auto` where the majors differ (a physical copy cannot cross majors).
 * Stand-in until 'pg-logical''s logical/method.ts is merged: then this is
 * `(await pgMethod(c.s)).method === 'logical'`, which also picks logical for a source that serves no physical copy.
 */
export function usesLogical(c: PgCheckContext): Promise<boolean> {
  let r = RESOLVED.get(c);
  if (!r) {
    const m = c.s.inputs.method;
    r = m === 'logical' ? Promise.resolve(true) : m === 'physical' ? Promise.resolve(false) : c.facts().then((f) => f.sMajor !== f.tMajor);
    RESOLVED.set(c, r);
  }
  return r;
}

/** The unit as it is under the logical method; no row under the physical one. */
export function logicalOnly(u: CheckUnit<PgCheckContext>): CheckUnit<PgCheckContext> {
  return { ...u, run: async (c): Promise<Verdict | Verdict[]> => ((await usesLogical(c)) ? u.run(c) : []) };
}
