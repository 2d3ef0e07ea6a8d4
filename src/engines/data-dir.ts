/**
 * The target's data directory during a seed: the previous one is set aside (renamed, not copied)
 * until the new copy runs, so that a failed copy puts it back, and a seed killed midway (a runner
 * crash) leaves it there for the next run to put back.
 */
import * as path from 'node:path';
import type { Host } from '../hosts/host.js';
import { lastLines } from '../hosts/host.js';
import type { Inputs } from '../inputs.js';
import type { Log } from '../log.js';

const ASIDE = '.zdm-old-';

/** For both engines' preflight: a target that holds data may be an earlier cutover's new primary. */
export const PROMOTED_HINT =
  "If it is the new primary of an earlier cutover, it takes the application's writes: leave it alone. Otherwise drop them, point target-url at an empty server, or set reseed: true to copy over them.";

export function asidePath(dataDir: string, at = new Date()): string {
  return `${dataDir}${ASIDE}${at.toISOString().replace(/[-:.]/g, '').slice(0, 15)}`;
}

export function targetStartCommand(inputs: Inputs): string {
  return inputs.targetStartCommand || (inputs.engine === 'postgres' ? 'systemctl start postgresql' : 'systemctl start mariadb');
}

export function targetStopCommand(inputs: Inputs): string {
  return inputs.targetStopCommand || (inputs.engine === 'postgres' ? 'systemctl stop postgresql' : 'systemctl stop mariadb');
}

/** The newest data directory an interrupted seed set aside, if any. */
async function leftAside(host: Host, dataDir: string): Promise<string | undefined> {
  const r = await host.run(['ls', '-1', path.dirname(dataDir)]).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  const prefix = path.basename(dataDir) + ASIDE;
  const names = r.stdout
    .split('\n')
    .map((n) => n.trim())
    .filter((n) => n.startsWith(prefix))
    .sort();
  return names.length ? path.join(path.dirname(dataDir), names[names.length - 1]) : undefined;
}

/**
 * When the target is down and a previous seed's aside directory is there, that seed was killed
 * midway: the data directory holds a partial copy. Puts the previous one back and starts the
 * target, so that this run starts from the target as it was. Returns what it did, if anything.
 */
export async function recoverInterruptedSeed(host: Host, inputs: Inputs, log: Log): Promise<string | undefined> {
  if (!inputs.targetDataDir) return undefined;
  const dataDir = path.resolve(inputs.targetDataDir);
  const aside = await leftAside(host, dataDir);
  if (!aside) return undefined;
  log.warn(
    `an interrupted seed-replica left a partial copy in ${dataDir} and the previous data directory at ${aside}: putting it back and starting the target`,
  );
  await host.remove(dataDir);
  await host.rename(aside, dataDir);
  const r = await host.shell(targetStartCommand(inputs), { timeoutMs: 300_000 });
  if (r.code !== 0) {
    return `put the previous data directory back, but target-start-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`;
  }
  return `put back the data directory an interrupted seed had set aside (${aside}) and started the target`;
}
