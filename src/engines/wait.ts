import { UserError } from '../errors.js';

/**
 * Polls `probe` every 200 ms until it returns a value, up to `timeoutMs`. Errors are retried
 * unless `hopeless` says waiting cannot cure them; the last one is named on timeout.
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, hopeless?: (e: unknown) => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (hopeless?.(e)) throw e;
      last = e;
    }
    if (Date.now() > deadline)
      throw new UserError(`${what} did not happen within ${Math.round(timeoutMs / 1000)} s${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
