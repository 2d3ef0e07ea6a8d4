/**
 * rollback runs the shared switch with the engine's sides swapped. The sides carry their own input
 * and the step's names for them, so the engine's messages come out in the user's words with no
 * rewording afterwards; and the shared switch asks the engine how to check for a primary.
 */
import { describe, expect, it } from 'vitest';
import type { Engine, Fence, StepContext } from '../../src/engines/engine.js';
import { openEngine } from '../../src/engines/index.js';
import { fatalReplicationError } from '../../src/engines/mysql/lag.js';
import { describeError } from '../../src/errors.js';
import { CUTOVER_NAMES, withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { reversedContext, ROLLBACK_NAMES } from '../../src/steps/rollback.js';
import { CUTOVER_ROLES, fenceAndPromote, Timeline } from '../../src/switch/switchover.js';

function context(engine: 'postgres' | 'mysql'): StepContext {
  const scheme = engine === 'postgres' ? 'postgres' : 'mysql';
  const raw: Record<string, string> = {
    'source-url': `${scheme}://app:pw-old@db-old.example:6001/app`,
    'target-url': `${scheme}://app:pw-new@db-new.example:6002/app`,
    fence: 'read-only',
  };
  const h = new LocalHost();
  return withDirectEndpoints({ inputs: readInputs('rollback', (n) => raw[n]), log: new TextLog(() => undefined), targetHost: h, sourceHost: h, runnerHost: h });
}

describe('rollback: sides, not rewording', () => {
  it("swaps the endpoints: the engine's source is target-url (the new primary), its target source-url (the old source)", () => {
    const ctx = context('postgres');
    const back = reversedContext(ctx);
    expect(back.source?.input).toBe('target-url');
    expect(back.source?.given.hostname).toBe('db-new.example');
    expect(back.target.input).toBe('source-url');
    expect(back.target.given.hostname).toBe('db-old.example');
    expect(back.names).toBe(ROLLBACK_NAMES);
    // The new primary's address is what the engine hands over as the endpoint once the old source is promoted.
    expect(openEngine(back).switch.endpoint()).toBe('db-old.example:6001');
  });

  it("an engine message names the sides with the step's names: the same fault, cutover and rollback", () => {
    const stopped = (names: typeof CUTOVER_NAMES) => fatalReplicationError({ names }, 0, '', 1062, 'Duplicate entry', 'No');
    expect(stopped(CUTOVER_NAMES)).toContain('The target has diverged from the source');
    expect(stopped(ROLLBACK_NAMES)).toContain('The old source has diverged from the new primary');
    expect(stopped(ROLLBACK_NAMES)).toContain("find the cause in the old source's error log");
    expect(stopped(ROLLBACK_NAMES)).not.toMatch(/\bthe (source|target)\b/);
  });

  it('cutover refuses reverse-replication over SSH before connecting anywhere', () => {
    const raw: Record<string, string> = {
      'source-url': 'postgres://a:b@127.0.0.1:5432/postgres',
      'target-url': 'postgres://a:b@127.0.0.1:5433/postgres',
      'source-ssh-host': 'db-old:22',
      'source-ssh-key': 'KEY',
      'reverse-replication': 'true',
    };
    let message = '';
    try {
      readInputs('cutover', (n) => raw[n]);
    } catch (e) {
      message = describeError(e);
    }
    expect(message).toMatch(/^input reverse-replication is not supported yet when the source is reached over SSH \(source-ssh-host\)/);
    expect(readInputs('cutover', (n) => (n === 'reverse-replication' ? 'false' : raw[n])).reverseReplication).toBe(false);
  });
});

describe("an uncertain promotion says how to check for a primary in the engine's own terms", () => {
  /** A fake engine (named as such): only what fenceAndPromote calls, with a promotion that fails. */
  function fakeEngine(real: Engine): Engine {
    const fence: Fence = { mode: 'read-only', startedAt: Date.now(), undo: undefined };
    return {
      switch: {
        recordFenceStart: async () => undefined,
        fence: async () => fence,
        finalPosition: async () => 'pos-1',
        waitApplied: async () => undefined,
        promote: async () => {
          throw new Error('connection reset during promotion');
        },
        primaryCheckHint: () => real.switch.primaryCheckHint(),
      },
    } as unknown as Engine;
  }

  for (const engine of ['mysql', 'postgres'] as const) {
    it(engine, async () => {
      const ctx = context(engine);
      const e = await fenceAndPromote(fakeEngine(openEngine(ctx)), ctx, new Timeline(ctx), [], CUTOVER_ROLES).then(
        () => undefined,
        (x: unknown) => describeError(x),
      );
      expect(e).toMatch(
        /^promotion of the target failed or is uncertain: unexpected error: connection reset during promotion\. The source stays fenced\. Check the target: if it is a primary \(/,
      );
      if (engine === 'mysql') {
        expect(e).toContain('SHOW REPLICA STATUS returns no row and SELECT @@read_only returns 0');
        expect(e).not.toContain('pg_is_in_recovery');
      } else expect(e).toContain('SELECT pg_is_in_recovery() returns false');
    });
  }
});
