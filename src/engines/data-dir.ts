/**
 * The target's data directory during a seed: the previous one is set aside (renamed, not copied)
 * until the new copy runs, so that a failed copy puts it back, and a seed killed midway (a runner
 * crash) leaves it there for the next run to put back. MySQL/MariaDB copy into an incoming
 * directory beside it first, which a killed seed leaves behind for the next run to remove.
 */
import * as path from 'node:path';
import { InputError, UserError } from '../errors.js';
import type { Host } from '../hosts/host.js';
import { lastLines } from '../hosts/host.js';
import type { Inputs } from '../inputs.js';
import type { Log } from '../log.js';

const ASIDE = '.zdm-old-';

/** For both engines' preflight: a target that holds data may be an earlier cutover's new primary. */
export const PROMOTED_HINT =
  "If it is the new primary of an earlier cutover, it takes the application's writes: leave it alone. Otherwise drop them, point target-url at an empty server, or set reseed: true to copy over them.";

const INCOMING = '.zdm-new-';

/**
 * Why an empty target-data-dir stops a physical seed, worded once for the check and the seed:
 * `tool` is the physical copy's program, `example` a data directory to give (the target's own, when known).
 */
export function emptyDataDirProblem(tool: string, example: string): string {
  return `is empty: the physical seed (${tool}) replaces the target's data directory, so give it, e.g. ${example}; a logical seed (method: logical) does not need it`;
}

/**
 * target-data-dir resolved for a physical seed, which writes and renames there. An empty value is
 * refused here, never resolved: path.resolve('') is the working directory.
 */
export function physicalDataDir(inputs: Pick<Inputs, 'targetDataDir'>, tool: string, example: string): string {
  if (!inputs.targetDataDir) throw new InputError('target-data-dir', emptyDataDirProblem(tool, example));
  return path.resolve(inputs.targetDataDir);
}

const stamp = (at: Date) => at.toISOString().replace(/[-:.]/g, '').slice(0, 15);

export function asidePath(dataDir: string, at = new Date()): string {
  return `${dataDir}${ASIDE}${stamp(at)}`;
}

export function incomingPath(dataDir: string, at = new Date()): string {
  return `${dataDir}${INCOMING}${stamp(at)}`;
}

export function targetStartCommand(inputs: Inputs): string {
  return inputs.targetStartCommand || (inputs.engine === 'postgres' ? 'systemctl start postgresql' : 'systemctl start mariadb');
}

export function targetStopCommand(inputs: Inputs): string {
  return inputs.targetStopCommand || (inputs.engine === 'postgres' ? 'systemctl stop postgresql' : 'systemctl stop mariadb');
}

/**
 * abort's `stop`: runs target-stop-command on a target that still answers. A failure stops abort
 * there, before the source is cleaned, so that a second run (once the target is stopped) finds
 * everything that is left.
 */
export async function stopTargetForAbort(host: Host, inputs: Inputs, answers: boolean, done: string[]): Promise<void> {
  if (!answers) return;
  const r = await host.shell(targetStopCommand(inputs), { timeoutMs: 300_000 });
  if (r.code !== 0)
    throw new UserError(
      `target-stop-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. abort stopped there${done.length ? ` (done: ${done.join('; ')})` : ''}: ` +
        'the source still keeps what it kept for the target. Stop the target yourself (or fix target-stop-command), then run abort again.',
    );
  done.push('the target stopped (target-stop-command)');
}

/** What an interrupted seed left beside the data directory with this infix, oldest first. */
async function leftBeside(host: Host, dataDir: string, infix: string): Promise<string[]> {
  const r = await host.run(['ls', '-1', path.dirname(dataDir)]).catch(() => undefined);
  if (!r || r.code !== 0) return [];
  const prefix = path.basename(dataDir) + infix;
  return r.stdout
    .split('\n')
    .map((n) => n.trim())
    .filter((n) => n.startsWith(prefix))
    .sort()
    .map((n) => path.join(path.dirname(dataDir), n));
}

/** Removes partial copies an interrupted seed left beside the data directory; returns them. */
export async function removeLeftIncoming(host: Host, dataDir: string, log: Log): Promise<string[]> {
  const incoming = await leftBeside(host, dataDir, INCOMING);
  for (const dir of incoming) {
    log.warn(`an interrupted seed-replica left a partial copy at ${dir}: removing it`);
    await host.remove(dir);
  }
  return incoming;
}

/**
 * When the target is down and a previous seed left its directories beside the data directory,
 * that seed was killed midway. Removes a partial incoming copy, puts a data directory that was
 * set aside back, and starts the target, so that this run starts from the target as it was.
 * Returns what it did, if anything.
 */
export async function recoverInterruptedSeed(host: Host, inputs: Inputs, log: Log): Promise<string | undefined> {
  if (!inputs.targetDataDir) return undefined;
  const dataDir = path.resolve(inputs.targetDataDir);
  const incoming = await removeLeftIncoming(host, dataDir, log);
  const aside = (await leftBeside(host, dataDir, ASIDE)).pop();
  if (aside) {
    log.warn(`an interrupted seed-replica left a partial copy in ${dataDir} and the previous data directory at ${aside}: putting it back`);
    await host.remove(dataDir);
    await host.rename(aside, dataDir);
  }
  if (!aside && incoming.length === 0) return undefined;
  log.info('starting the target as it was before the interrupted seed');
  const r = await host.shell(targetStartCommand(inputs), { timeoutMs: 300_000 });
  if (r.code !== 0) {
    return `put the target back as it was, but target-start-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}`;
  }
  return aside
    ? `put back the data directory an interrupted seed had set aside (${aside}) and started the target`
    : 'removed what an interrupted seed left and started the target';
}
