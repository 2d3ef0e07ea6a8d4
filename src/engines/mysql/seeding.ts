/**
 * seed-replica's capability: the check registry (checks/) and the copy (seed.ts). Built here, not in
 * seed.ts, because the checks read seed.ts's facts (an import back would be a cycle).
 */
import type { Seeding } from '../engine.js';
import { myChecks } from './checks/index.js';
import { seedWithMethod } from './method.js';
import type { MySession } from './session.js';

export function mySeeding(s: MySession): Seeding {
  return {
    checks: () => myChecks(s),
    seed: (plan) => seedWithMethod(s, plan),
  };
}
