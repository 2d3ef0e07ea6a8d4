/**
 * Cutover's DDL guard as a check: the source's schema is still the one the logical seed copied.
 * In PG_CHECKS with scope `cutover`: the switch's lag gate runs it before the fence, so that DDL
 * made during catch-up refuses cutover with nothing changed. The engine checks again inside the
 * fence (logical/ddl-hooks.ts refuseDdl), for DDL made in between.
 */
import { ok, fail, type CheckUnit, type Verdict } from '../../../checks/check.js';
import { one } from '../connect.js';
import { FINGERPRINT_SCHEMA, FINGERPRINT_TABLE, schemaChangeMessage, schemaChanges } from '../logical/schema-guard.js';
import type { PgCheckContext } from './context.js';
import { guardOptions } from '../logical/ddl-hooks.js';

/**
 * A logical migration is told from the target itself (cutover has no `method` input): zdm's
 * subscription is there, or the fingerprint the seed recorded. No row for a physical migration.
 */
async function logicalTarget(c: PgCheckContext): Promise<boolean> {
  const { yes } = await one<{ yes: boolean }>(
    await c.s.target(),
    'SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1) OR to_regclass($2) IS NOT NULL AS yes',
    [c.s.inputs.replicationSlot, `${FINGERPRINT_SCHEMA}.${FINGERPRINT_TABLE}`],
  );
  return yes;
}

export const schemaUnchanged: CheckUnit<PgCheckContext> = {
  id: 'logical-schema-unchanged',
  title: 'no DDL on the source since the seed',
  scopes: ['cutover'],
  async run(c): Promise<Verdict | Verdict[]> {
    // cutover's gate only: rollback runs the same gate with the sides swapped, where no seed recorded a schema.
    if (c.s.inputs.step !== 'cutover' || !(await logicalTarget(c))) return [];
    const changes = await schemaChanges(await c.s.source(), await c.s.target(), guardOptions(c.s));
    return changes.length === 0 ? ok('the source schema is the one the seed copied') : fail(schemaChangeMessage(changes));
  },
};
