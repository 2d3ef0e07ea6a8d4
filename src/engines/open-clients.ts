/**
 * Every connection and timer a step opens is closed when the step ends, also after an error.
 * Code closes what it opens in `finally`; this is the net under it: a client left open (a setup
 * query that failed after the connect, a heartbeat whose stop was never reached) would keep the
 * process alive and an Actions job would hang until its timeout instead of failing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

type Closer = () => Promise<void> | void;

const scope = new AsyncLocalStorage<Set<Closer>>();

/** Runs `fn`; whatever was tracked inside it and is still open afterwards gets closed. */
export async function withOpenClientsClosed<T>(fn: () => Promise<T>): Promise<T> {
  const open = new Set<Closer>();
  try {
    return await scope.run(open, fn);
  } finally {
    await closeAll(open);
  }
}

async function closeAll(open: Set<Closer>): Promise<void> {
  const closers = [...open];
  open.clear();
  await Promise.all(
    closers.map(async (c) => {
      try {
        await c();
      } catch {
        /* closing what is already broken */
      }
    }),
  );
}

/** Registers `close` with the running step; call the returned function once closed normally. */
export function track(close: Closer): () => void {
  const open = scope.getStore();
  if (!open) return () => undefined;
  open.add(close);
  return () => open.delete(close);
}
