/** The heartbeat writer both engines use: one row on the source, rewritten about every 500 ms. */
import type { Heartbeat } from './engine.js';

export const HEARTBEAT_INTERVAL_MS = 500;

/** Calls `beat` now and then every interval until stopped; a failed beat is recorded, not thrown. */
export async function heartbeatLoop(beat: () => Promise<void>, close: () => Promise<void>): Promise<Heartbeat> {
  let stopped = false;
  const state = { writes: 0, lastError: undefined as string | undefined };
  const once = async () => {
    try {
      await beat();
      state.writes++;
      state.lastError = undefined;
    } catch (e) {
      state.lastError = (e as Error).message;
    }
  };
  await once();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = once().then(loop);
    }, HEARTBEAT_INTERVAL_MS);
  };
  loop();
  return {
    get writes() {
      return state.writes;
    },
    get lastError() {
      return state.lastError;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await close().catch(() => undefined);
    },
  };
}
