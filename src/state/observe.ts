/**
 * What the audit record needs from the servers themselves: which server each side is (its own
 * identifier, version and address) and what the target host is, read when a step that changes
 * something ends and kept in the migration record (`extra.servers`). Best effort: a side that does
 * not answer (a source stopped by the shutdown fence) keeps what an earlier step read.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { observeHost, type ObservedServers } from './audit.js';

const READ_MS = 3_000;

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export async function observeServers(ctx: StepContext): Promise<void> {
  const journal = ctx.journal;
  if (!journal) return;
  const prev = (journal.record.extra?.servers ?? {}) as ObservedServers;
  const next: ObservedServers = { ...prev, targetHost: observeHost() };
  if (ctx.inputs.dataLocation) next.dataLocation = ctx.inputs.dataLocation;
  const engine = openEngine(ctx);
  try {
    const identity = engine.inspection.identity;
    for (const side of ['source', 'target'] as const) {
      if (!identity || (side === 'source' && !ctx.source)) continue;
      try {
        next[side] = { ...(await within(identity(side), READ_MS)), at: new Date().toISOString() };
      } catch (e) {
        // Expected after the shutdown fence: the old source is stopped.
        ctx.log.info(`audit record: the ${side} did not answer for its identity now (${describeError(e)}); the record keeps what an earlier step read`);
      }
    }
  } finally {
    await within(engine.close(), READ_MS).catch(() => undefined);
  }
  await journal.extra('servers', next);
}
