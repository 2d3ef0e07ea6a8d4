/** MySQL 8.0, 8.4 and MariaDB: binlog replication, dialects in flavor.ts. Composes the capabilities; each is built in the module that holds its statements. */
import type { Engine, StepContext } from '../engine.js';
import { myInspection } from './checklist.js';
import { mySwitch, type MyFenceUndo } from './cutover.js';
import { myReplication } from './lag.js';
import { myReverse, type ReversePlan } from './reverse.js';
import { mySeeding } from './seeding.js';
import { MySession } from './session.js';
import { myTuning } from './tuning.js';
import { myVerify } from './verify.js';
import { myLifecycle } from './lifecycle.js';

export function mysqlEngine(ctx: StepContext): Engine<MyFenceUndo, ReversePlan> {
  const s = new MySession(ctx);
  return {
    kind: ctx.inputs.engine,
    close: () => s.close(),
    tuning: myTuning(s),
    seeding: mySeeding(s),
    replication: myReplication(s),
    switch: mySwitch(s),
    inspection: myInspection(s),
    verify: myVerify(s),
    reverse: myReverse(s),
    lifecycle: myLifecycle(s),
  };
}
