/**
 * The two target-host checks both engines make before a seed, built once: room for the copy beside
 * target-data-dir, and a parent directory its owner can write (the seed sets the old one aside there).
 */
import * as path from 'node:path';
import type { StepContext } from '../engines/engine.js';
import { formatBytes } from '../log.js';
import { verdict, type CheckUnit } from './check.js';

/** What the checks need of an engine's check context: the resolved target-data-dir and its session's target host. */
export interface TargetDirContext {
  readonly dataDir: string;
  readonly s: { readonly ctx: Pick<StepContext, 'targetHost'> };
}

/** Free space on the filesystem of target-data-dir's parent against `need`, the bytes this engine's copy takes. */
export function diskSpaceCheck<C extends TargetDirContext>(need: (c: C) => Promise<number>): CheckUnit<C> {
  return {
    id: 'disk-space',
    title: 'disk space on target',
    scopes: ['seed'],
    async run(c) {
      const bytes = await need(c);
      const free = await c.s.ctx.targetHost.freeBytes(path.dirname(c.dataDir));
      return verdict(
        free >= bytes,
        `${formatBytes(free)} free, the copy needs about ${formatBytes(bytes)}${free >= bytes ? '' : ': free space on the target filesystem or use a larger disk'}`,
      );
    },
  };
}

/** The data directory's owner can create entries in its parent; `why` (optional) says what the seed does there. */
export function dataDirWritableCheck<C extends TargetDirContext>(why?: (c: C) => string): CheckUnit<C> {
  return {
    id: 'target-data-dir-writable',
    title: 'target-data-dir writable',
    scopes: ['seed'],
    async run(c) {
      const host = c.s.ctx.targetHost;
      const owner = await host.ownerOf(c.dataDir);
      const parent = path.dirname(c.dataDir);
      const writable = await host.canWrite(parent, owner);
      return verdict(
        writable,
        writable
          ? `by ${owner.name}`
          : `${owner.name} (the data directory's owner) cannot create entries in ${parent}${why ? `: ${why(c)}` : ''}. Fix the directory's owner or permissions.`,
      );
    },
  };
}
