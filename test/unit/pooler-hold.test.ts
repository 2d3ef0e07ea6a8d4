/**
 * The order of the pooler-held switch and RESUME on every exit path, with recording fakes (named as
 * such) in place of PgBouncer: the real servers' behaviour is in test/integration/pgbouncer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/engines/engine.js';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { holdPoolers } from '../../src/poolers/hold.js';
import type { Pooler } from '../../src/poolers/pooler.js';

function fakePooler(name: string, calls: string[], fail: { repoint?: boolean; pause?: boolean } = {}): Pooler {
  return {
    label: name,
    check: async () => [],
    isPaused: async () => false,
    findLongTransactions: async () => [],
    pause: async () => {
      calls.push(`${name} pause`);
      if (fail.pause) throw new Error('timed out');
    },
    repoint: async () => {
      calls.push(`${name} repoint`);
      if (fail.repoint) throw new Error('RELOAD refused');
      return `${name} repointed`;
    },
    resume: async () => void calls.push(`${name} resume`),
    close: async () => undefined,
  };
}

const ctx = { log: new TextLog(() => undefined) } as unknown as StepContext;
const o = { pauseTimeoutMs: 1000, longTransactionSeconds: 1, longTransactionPolicy: 'abort' as const };
const to = () => ({ host: 'db-new', port: 5432 });

describe('holdPoolers', () => {
  it('pauses all, switches, repoints all, resumes all, in that order', async () => {
    const calls: string[] = [];
    const held = await holdPoolers(
      [fakePooler('a', calls), fakePooler('b', calls)],
      ctx,
      () => undefined,
      o,
      async () => void calls.push('switch'),
      to,
    );
    expect(calls).toEqual(['a pause', 'b pause', 'switch', 'a repoint', 'b repoint', 'a resume', 'b resume']);
    expect(held.repointed).toEqual(['a repointed', 'b repointed']);
  });

  it('resumes every pooler and never switches when one PAUSE fails', async () => {
    const calls: string[] = [];
    let message = '';
    await holdPoolers(
      [fakePooler('a', calls), fakePooler('b', calls, { pause: true })],
      ctx,
      () => undefined,
      o,
      async () => void calls.push('switch'),
      to,
    ).catch((e) => (message = describeError(e)));
    expect(calls).not.toContain('switch');
    expect(calls.filter((c) => c.endsWith('resume'))).toEqual(['a resume', 'b resume']);
    expect(message).toMatch(/^PAUSE did not complete on every pooler, so nothing was fenced: b: .*timed out.*Every pooler was resumed/);
  });

  it('resumes (still pointing at the source) when the switch aborts, and rethrows its error as it was', async () => {
    const calls: string[] = [];
    const abort = new Error('cutover aborted, the source has its writes back');
    await expect(
      holdPoolers(
        [fakePooler('a', calls)],
        ctx,
        () => undefined,
        o,
        async () => Promise.reject(abort),
        to,
      ),
    ).rejects.toBe(abort);
    expect(calls).toEqual(['a pause', 'a resume']);
  });

  it('resumes when repointing fails after the switch, returns the switch and says what to do by hand (a promotion is never hidden by an error)', async () => {
    const calls: string[] = [];
    const held = await holdPoolers(
      [fakePooler('a', calls), fakePooler('b', calls, { repoint: true })],
      ctx,
      () => undefined,
      o,
      async () => 'promoted',
      to,
    );
    expect(calls.slice(-2)).toEqual(['a resume', 'b resume']);
    expect(held.result).toBe('promoted');
    expect(held.problems).toHaveLength(1);
    expect(held.problems[0]).toMatch(/repointing the poolers failed: .*RELOAD refused.*Repointed: a repointed\. Point the others at db-new:5432 by hand/);
  });
});
