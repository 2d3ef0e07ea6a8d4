/** A fence that fails half way up travels as a typed FenceError, and the switch lifts exactly that fence. */
import { describe, expect, it } from 'vitest';
import { FenceError, type Engine, type Fence, type StepContext } from '../../src/engines/engine.js';
import type { PgFenceUndo } from '../../src/engines/postgres/cutover.js';
import { describeError, SafetyError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { CUTOVER_ROLES, fenceAndPromote, Timeline } from '../../src/switch/switchover.js';

describe('FenceError', () => {
  it("keeps the cause's message and the fence with its typed undo data", () => {
    const f: Fence<PgFenceUndo> = { mode: 'read-only', startedAt: 1, undo: { roles: ['app'] } };
    const e = new FenceError(f, new SafetyError('sessions still open on the source after the fence: app (pid 7)'));
    expect(e.message).toBe('sessions still open on the source after the fence: app (pid 7)');
    expect(e.fence.undo.roles).toEqual(['app']);
    expect(describeError(new FenceError(f, new Error('socket hang up')))).toBe('unexpected error: socket hang up');
  });

  it('the switch gives the fenced side its writes back with the fence the error carries', async () => {
    const f: Fence<PgFenceUndo> = { mode: 'read-only', startedAt: Date.now(), undo: { roles: ['app', 'report'] } };
    const lifted: Fence<PgFenceUndo>[] = [];
    // A fake engine (named as such): the fence fails after it blocked some roles.
    const engine = {
      switch: {
        recordFenceStart: async () => undefined,
        fence: async () => {
          throw new FenceError(f, new SafetyError('sessions still open on the source after the fence: app (pid 7)'));
        },
        unfence: async (x: Fence<PgFenceUndo>) => {
          lifted.push(x);
        },
      },
    } as unknown as Engine<PgFenceUndo>;
    const ctx = { inputs: { applyTimeoutSeconds: 1 }, log: new TextLog(() => undefined) } as unknown as StepContext;
    const m = await fenceAndPromote(engine, ctx, new Timeline(ctx), [], CUTOVER_ROLES).then(
      () => '',
      (e: unknown) => describeError(e),
    );
    expect(lifted).toEqual([f]);
    expect(m).toBe(
      'cutover aborted, the source has its writes back and the target is still a replica: sessions still open on the source after the fence: app (pid 7)',
    );
  });
});
