/** The net under every step: what a step opened and left open is closed when it ends, also after an error. */
import { describe, expect, it } from 'vitest';
import { track, withOpenClientsClosed } from '../../src/engines/open-clients.js';
import { heartbeatLoop } from '../../src/engines/heartbeat.js';

describe('withOpenClientsClosed', () => {
  it('closes what was tracked and not closed, after an error too, and leaves closed ones alone', async () => {
    const closed: string[] = [];
    await expect(
      withOpenClientsClosed(async () => {
        track(() => void closed.push('left open'));
        const done = track(() => void closed.push('closed twice'));
        done();
        await new Promise((r) => setTimeout(r, 5));
        // Tracked from a timer callback: the scope follows async work.
        await new Promise<void>((r) => setTimeout(() => (track(() => void closed.push('from a timer')), r()), 5));
        throw new Error('the step failed');
      }),
    ).rejects.toThrow('the step failed');
    expect(closed.sort()).toEqual(['from a timer', 'left open']);
  });

  it('a closer that throws does not stop the others', async () => {
    const closed: string[] = [];
    await withOpenClientsClosed(async () => {
      track(() => {
        throw new Error('already broken');
      });
      track(() => void closed.push('b'));
    });
    expect(closed).toEqual(['b']);
  });

  it('stops a heartbeat whose stop() was never reached', async () => {
    let beats = 0;
    let clientClosed = false;
    await withOpenClientsClosed(async () => {
      await heartbeatLoop(
        async () => void beats++,
        async () => void (clientClosed = true),
      );
    });
    expect(clientClosed).toBe(true);
    const after = beats;
    await new Promise((r) => setTimeout(r, 1200));
    expect(beats).toBe(after);
  });

  it('outside a step, tracking is a no-op', () => {
    expect(() => track(() => undefined)()).not.toThrow();
  });
});
