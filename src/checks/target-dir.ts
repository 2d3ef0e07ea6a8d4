/**
 * The two target-host checks both engines make before a seed, built once: room for the copy beside
 * target-data-dir, and a parent directory its owner can write (the seed sets the old one aside there).
 */
import * as path from 'node:path';
import type { StepContext } from '../engines/engine.js';
import { formatBytes } from '../log.js';
import { skip, verdict, type CheckUnit, type Verdict } from './check.js';

/** What the checks need of an engine's check context: the resolved target-data-dir (undefined: not given) and its session's target host. */
export interface TargetDirContext {
  readonly dataDir: string | undefined;
  readonly s: { readonly ctx: Pick<StepContext, 'targetHost'> };
}

/** Not given: the target-data-dir check itself says so (and whether the method needs it). */
const NO_DATA_DIR: Verdict = skip('target-data-dir is not given');

/** The physical copy goes beside target-data-dir (set aside, or an incoming directory): its parent's filesystem takes it. */
const besideDataDir = async (c: TargetDirContext): Promise<string | undefined> => c.dataDir && path.dirname(c.dataDir);

/**
 * Free space on the target host against `need`, the bytes this engine's copy takes, on the
 * filesystem of `where` (by default target-data-dir's parent; undefined: nothing to measure).
 */
export function diskSpaceCheck<C extends TargetDirContext>(
  need: (c: C) => Promise<number>,
  where: (c: C) => Promise<string | undefined> = besideDataDir,
): CheckUnit<C> {
  return {
    id: 'disk-space',
    title: 'disk space on target',
    scopes: ['seed'],
    async run(c) {
      const dir = await where(c);
      if (!dir) return NO_DATA_DIR;
      const bytes = await need(c);
      const free = await c.s.ctx.targetHost.freeBytes(dir);
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
      if (!c.dataDir) return NO_DATA_DIR;
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
