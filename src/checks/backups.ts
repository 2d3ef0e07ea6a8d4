/** post-cutover: backups of the new primary run, proven by backup-check-command or by a recent file under backup-dir. */
import * as path from 'node:path';
import type { StepContext } from '../engines/engine.js';
import { lastLines } from '../hosts/host.js';
import { formatBytes, formatSeconds } from '../log.js';
import { fail, ok, warn, type CheckUnit, type Verdict } from './check.js';

export interface BackupsContext {
  step: StepContext;
  /** The new primary's address as the application sees it (no credentials), for the command's ZDM_ENDPOINT. */
  endpoint: string;
}

async function byCommand(ctx: StepContext, endpoint: string): Promise<Verdict> {
  const r = await ctx.runnerHost
    .shell(ctx.inputs.backupCheckCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 })
    .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  const out = lastLines(r.stderr || r.stdout, 3);
  return r.code === 0
    ? ok(`backup-check-command passed${out ? `: ${out}` : ''}`)
    : fail(`backup-check-command failed (exit ${r.code})${out ? `: ${out}` : ''}. Set up backups of the new primary before relying on it.`);
}

/** The newest non-empty file under backup-dir must be younger than backup-max-age-hours. */
async function byDir(ctx: StepContext): Promise<Verdict> {
  const { backupDir: dir, backupMaxAgeHours: hours } = ctx.inputs;
  const host = ctx.targetHost;
  if (!(await host.exists(dir)))
    return fail(`backup-dir ${dir} does not exist on the target host. Check the path, and that backups of the new primary are set up.`);
  const minutes = Math.max(1, Math.ceil(hours * 60));
  const r = await host.run(['find', '-L', path.resolve(dir), '-type', 'f', '-size', '+0', '-mmin', `-${minutes}`, '-printf', '%T@\t%s\t%p\n'], {
    timeoutMs: 120_000,
  });
  if (r.code !== 0) return fail(`cannot list backup-dir ${dir}: ${lastLines(r.stderr, 2)}`);
  const files = r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length === 3 && Number.isFinite(Number(f[0])))
    .map(([t, size, p]) => ({ at: Number(t) * 1000, size: Number(size), path: p }))
    .sort((a, b) => b.at - a.at);
  if (files.length === 0)
    return fail(
      `no non-empty file newer than ${hours} h in backup-dir ${dir}: backups of the new primary are not running (or land elsewhere). Start them, or check backup-dir and backup-max-age-hours.`,
    );
  const f = files[0];
  const age = ((ctx.clock ?? Date.now)() - f.at) / 1000;
  return ok(`newest backup ${f.path} (${formatBytes(f.size)}), ${formatSeconds(Math.max(0, age))} old (limit ${hours} h)`);
}

export const backups: CheckUnit<BackupsContext> = {
  id: 'backups',
  title: 'backups',
  scopes: ['post-cutover'],
  async run({ step, endpoint }) {
    const { backupCheckCommand, backupDir } = step.inputs;
    if (!backupCheckCommand && !backupDir)
      return warn('not checked: set backup-check-command or backup-dir so that this checklist proves backups of the new primary run');
    const rows: Verdict[] = [];
    if (backupCheckCommand) rows.push(await byCommand(step, endpoint));
    if (backupDir) rows.push(await byDir(step));
    return rows;
  },
};
