/**
 * seed-replica's capability: the check registry (checks/) and the copy (seed.ts). Built here, not in
 * seed.ts, because the checks read seed.ts's facts (an import back would be a cycle).
 */
import type { Seeding } from '../engine.js';
import { pgChecks } from './checks/index.js';
import { seedPostgres } from './seed.js';
import type { PgSession } from './session.js';

export function pgSeeding(s: PgSession): Seeding {
  return {
    checks: () => pgChecks(s),
    seed: (plan) => seedPostgres(s, plan),
  };
}
