/** The heartbeat writer both engines use: one row on the source, rewritten about every 500 ms. */
import type { Heartbeat } from './engine.js';
import { UserError } from '../errors.js';
import { track } from './open-clients.js';

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
  const hb: Heartbeat = {
    get writes() {
      return state.writes;
    },
    get lastError() {
      return state.lastError;
    },
    async stop() {
      untrack();
      stopped = true;
      clearTimeout(timer);
      await running;
      await close().catch(() => undefined);
    },
  };
  // A step that ends without reaching stop() (an error in between) still stops the timer.
  const untrack = track(() => hb.stop());
  return hb;
}

/**
 * Opens the heartbeat's own connection and makes its table ready; when that fails the connection
 * is closed again before the error goes up, so that the step ends instead of hanging on it.
 */
export async function openHeartbeatClient<C>(open: () => Promise<C>, close: (c: C) => Promise<void>, prepare: (c: C) => Promise<void>): Promise<C> {
  const client = await open();
  try {
    await prepare(client);
    return client;
  } catch (e) {
    await close(client).catch(() => undefined);
    throw e;
  }
}

/** The error for a heartbeat table the source refused to create or write, naming the input and the fix. */
export function heartbeatTableError(table: string, e: unknown, fix: string): UserError {
  if (e instanceof UserError) return e;
  return new UserError(`input heartbeat-table: zdm could not create or write the heartbeat table ${table} on the source: ${(e as Error).message}. ${fix}`, {
    cause: e,
  });
}
