/** PostgreSQL: physical streaming replication between two servers of the same major. Composes the capabilities; each is built in the module that holds its statements. */
import type { Engine, StepContext } from '../engine.js';
import { pgInspection } from './checklist.js';
import { pgSwitch, type PgFenceUndo } from './cutover.js';
import { pgReplication } from './lag.js';
import { pgReverse, type ReversePlan } from './reverse.js';
import { pgSeeding } from './seeding.js';
import { PgSession } from './session.js';
import { pgTuning } from './tuning.js';
import { pgVerify } from './verify.js';

export function postgresEngine(ctx: StepContext): Engine<PgFenceUndo, ReversePlan> {
  const s = new PgSession(ctx);
  return {
    kind: 'postgres',
    close: () => s.close(),
    tuning: pgTuning(s),
    seeding: pgSeeding(s),
    replication: pgReplication(s),
    switch: pgSwitch(s),
    inspection: pgInspection(s),
    verify: pgVerify(s),
    reverse: pgReverse(s),
  };
}
