/** PostgreSQL: physical streaming replication between two servers of the same major, or logical replication (logical/) across majors. Composes the capabilities; each is built in the module that holds its statements. */
import type { Engine, StepContext } from '../engine.js';
import { pgInspection } from './checklist.js';
import { pgSwitch, type PgFenceUndo } from './cutover.js';
import { pgReplication } from './lag.js';
import { pgReverse } from './reverse.js';
import { pgSeeding } from './seeding.js';
import { PgSession } from './session.js';
import { pgTuning } from './tuning.js';
import { pgVerify } from './verify.js';
import { pgLifecycle } from './lifecycle.js';
import { logicalReplication, logicalReverse, logicalSeeding, logicalSwitch, type PgReversePlan } from './logical/index.js';

export function postgresEngine(ctx: StepContext): Engine<PgFenceUndo, PgReversePlan> {
  const s = new PgSession(ctx);
  return {
    kind: 'postgres',
    close: () => s.close(),
    tuning: pgTuning(s),
    seeding: logicalSeeding(s, pgSeeding(s)),
    replication: logicalReplication(s, pgReplication(s)),
    switch: logicalSwitch(s, pgSwitch(s)),
    inspection: pgInspection(s),
    verify: pgVerify(s),
    reverse: logicalReverse(s, pgReverse(s)),
    lifecycle: pgLifecycle(s),
  };
}
