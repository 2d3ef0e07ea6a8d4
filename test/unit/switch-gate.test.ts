/**
 * What cutover (and rollback, the same switch the other way) checks before its fence is data: the
 * units of scope `cutover`, the switch's own lag check and any of the engine's, selected by scope
 * and reported in the one result shape; a failed one refuses with nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { fail, ok, warn, type CheckUnit } from '../../src/checks/check.js';
import type { Engine, LagSample, StepContext } from '../../src/engines/engine.js';
import { SafetyError } from '../../src/errors.js';
import { withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { lagBeforeFence, lagGate } from '../../src/switch/switchover.js';

function context(lines: string[]): StepContext {
  const raw: Record<string, string> = {
    'source-url': 'mysql://app:pw@db-old.example:3306/app',
    'target-url': 'mysql://app:pw@db-new.example:3306/app',
    fence: 'read-only',
    'max-lag-bytes': '1000',
    'max-lag-seconds': '2',
  };
  const h = new LocalHost();
  return withDirectEndpoints({
    inputs: readInputs('cutover', (n) => raw[n]),
    log: new TextLog((l) => lines.push(l)),
    targetHost: h,
    sourceHost: h,
    runnerHost: h,
  });
}

/** A fake engine (named as such): a heartbeat, one lag reading, and the engine's check registry. */
function fakeEngine(lag: Partial<LagSample>, units: CheckUnit[] = [], ran: string[] = []): Engine {
  const sample: LagSample = { at: Date.now(), bytes: 10, seconds: 0.2, streaming: true, detail: 'streaming', ...lag };
  const track = (u: CheckUnit): CheckUnit => ({ ...u, run: () => (ran.push(u.id), u.run()) });
  return {
    replication: { startHeartbeat: async () => ({ stop: async () => undefined }), measureLag: async () => sample },
    seeding: { checks: () => units.map(track) },
  } as unknown as Engine;
}

const unit = (id: string, scopes: CheckUnit['scopes'], v: ReturnType<typeof ok>): CheckUnit => ({
  id,
  title: id.replace(/-/g, ' '),
  scopes,
  run: async () => v,
});

describe('the checks before the fence, by scope `cutover`', () => {
  it('the lag check is a unit of scope cutover; within the bounds, the gate returns the lag for the timeline', async () => {
    expect(lagBeforeFence.scopes).toEqual(['cutover']);
    const ran: string[] = [];
    const engine = fakeEngine({}, [unit('seed-only', ['seed'], fail('never run at cutover')), unit('engine-cutover', ['cutover'], ok('fine'))], ran);
    expect(await lagGate(engine, context([]))).toBe('10 B behind, heartbeat 0.20 s');
    // The engine's units are selected by scope: its seed checks do not run before a fence.
    expect(ran).toEqual(['engine-cutover']);
  });

  it('lag above the bound refuses with the same words as before, nothing changed', async () => {
    const e = await lagGate(fakeEngine({ bytes: 5000, seconds: 3 }), context([])).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SafetyError);
    expect((e as Error).message).toMatch(
      /^lag is too high to block writes now \(4\.9 kB behind, heartbeat 3\.00 s; bounds 1000 bytes and 2 s\)\. Nothing was changed\. Run await-lag-zero, then cutover again\. streaming$/,
    );
  });

  it("an engine's failed cutover check refuses the switch with its detail; a warning is logged and does not", async () => {
    const lines: string[] = [];
    const refuse = fakeEngine({}, [unit('ddl-guard', ['cutover', 'preflight'], fail('a DDL statement ran on the source since the seed: seed again'))]);
    await expect(lagGate(refuse, context(lines))).rejects.toThrow(/^a DDL statement ran on the source since the seed: seed again$/);
    const both = fakeEngine({ bytes: 5000 }, [unit('ddl-guard', ['cutover'], fail('DDL seen'))]);
    await expect(lagGate(both, context(lines))).rejects.toThrow(
      /^cutover refused before the fence, nothing was changed:\n- lag before the fence: lag is too high .*\n- ddl guard: DDL seen$/,
    );
    expect(await lagGate(fakeEngine({}, [unit('slow-disk', ['cutover'], warn('the disk is slow'))]), context(lines))).toMatch(/behind/);
    expect(lines.join('\n')).toContain('slow disk: the disk is slow');
  });
});
