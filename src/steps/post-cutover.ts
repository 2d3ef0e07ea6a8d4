/**
 * post-cutover: the final checklist on the new primary. Reachable and fast from the runner, room
 * for the application's pool, writable and durable, backed up, and feeding its own replicas when
 * it should. Any failed row fails the step; nothing is changed.
 */
import * as path from 'node:path';
import { openEngine } from '../engines/index.js';
import type { PrimaryState, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import { Checklist } from '../checklist/checklist.js';
import { formatBytes, formatSeconds } from '../log.js';
import { defaultPort, hostPortOf, latencyRow, poolRow } from './checks-common.js';
import type { StepResult } from './step.js';

function primaryRows(list: Checklist, st: PrimaryState, ctx: StepContext): void {
  list.add('accepts writes', st.notWritable ? 'fail' : 'ok', st.notWritable ?? 'a primary, not read-only');
  const weak = st.durability.filter((d) => !d.durable);
  const values = st.durability.map((d) => `${d.name}=${d.value}`).join(', ');
  if (weak.length === 0) list.add('durability', 'ok', values);
  else
    list.add(
      'durability',
      ctx.inputs.allowRelaxedDurability ? 'warn' : 'fail',
      `${values}: a crash of the new primary can lose acknowledged writes. ${weak.map((d) => d.fix).join('; ')}.` +
        (ctx.inputs.allowRelaxedDurability ? ' (allow-relaxed-durability is set: not blocking)' : ''),
    );
  const want = ctx.inputs.expectReplicas;
  if (want === undefined) return;
  const streaming = st.replicas.filter((r) => r.streaming);
  const seen = st.replicas.length ? st.replicas.map((r) => r.name).join(', ') : 'none';
  list.add(
    'replicas of the new primary',
    streaming.length >= want ? 'ok' : 'fail',
    streaming.length >= want
      ? `${streaming.length} streaming (expected ${want}): ${seen}`
      : `${streaming.length} streaming, expected ${want} (seen: ${seen}). Point the replicas at the new primary and start them; check their logs and the new primary's pg_hba.conf / replication grants.`,
  );
}

async function backupCommandRow(list: Checklist, ctx: StepContext, endpoint: string): Promise<void> {
  const r = await ctx.runnerHost
    .shell(ctx.inputs.backupCheckCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 })
    .catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  const out = lastLines(r.stderr || r.stdout, 3);
  list.add(
    'backups',
    r.code === 0 ? 'ok' : 'fail',
    r.code === 0
      ? `backup-check-command passed${out ? `: ${out}` : ''}`
      : `backup-check-command failed (exit ${r.code})${out ? `: ${out}` : ''}. Set up backups of the new primary before relying on it.`,
  );
}

/** The newest non-empty file under backup-dir must be younger than backup-max-age-hours. */
async function backupDirRow(list: Checklist, ctx: StepContext): Promise<void> {
  const { backupDir: dir, backupMaxAgeHours: hours } = ctx.inputs;
  const host = ctx.targetHost;
  if (!(await host.exists(dir))) {
    list.add('backups', 'fail', `backup-dir ${dir} does not exist on the target host. Check the path, and that backups of the new primary are set up.`);
    return;
  }
  const minutes = Math.max(1, Math.ceil(hours * 60));
  const r = await host.run(['find', '-L', path.resolve(dir), '-type', 'f', '-size', '+0', '-mmin', `-${minutes}`, '-printf', '%T@\t%s\t%p\n'], {
    timeoutMs: 120_000,
  });
  if (r.code !== 0) {
    list.add('backups', 'fail', `cannot list backup-dir ${dir}: ${lastLines(r.stderr, 2)}`);
    return;
  }
  const files = r.stdout
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => f.length === 3 && Number.isFinite(Number(f[0])))
    .map(([t, size, p]) => ({ at: Number(t) * 1000, size: Number(size), path: p }))
    .sort((a, b) => b.at - a.at);
  if (files.length === 0) {
    list.add(
      'backups',
      'fail',
      `no non-empty file newer than ${hours} h in backup-dir ${dir}: backups of the new primary are not running (or land elsewhere). Start them, or check backup-dir and backup-max-age-hours.`,
    );
    return;
  }
  const f = files[0];
  const age = ((ctx.clock ?? Date.now)() - f.at) / 1000;
  list.add('backups', 'ok', `newest backup ${f.path} (${formatBytes(f.size)}), ${formatSeconds(Math.max(0, age))} old (limit ${hours} h)`);
}

export async function postCutover(ctx: StepContext): Promise<StepResult<'post-cutover'>> {
  const { inputs, log } = ctx;
  const list = new Checklist(log);
  const engine = openEngine(ctx);
  const endpoint = engine.endpoint();
  const addr = hostPortOf(inputs.targetUrl, defaultPort(inputs));
  let p50 = '';
  let p99 = '';
  try {
    await log.group('The new primary', async () => {
      let limits;
      try {
        limits = await engine.serverLimits('target');
        list.add('connection', 'ok', limits.version);
      } catch (e) {
        list.add('connection', 'fail', describeError(e));
      }
      const probe = await latencyRow(list, engine, { row: 'latency to the new primary', which: 'target', address: addr, limits }, inputs);
      p50 = probe.p50?.toFixed(2) ?? '';
      p99 = probe.p99?.toFixed(2) ?? '';
      if (!limits) return;
      poolRow(list, limits, inputs, 'new primary');
      primaryRows(list, await engine.newPrimaryState(), ctx);
    });
  } finally {
    await engine.close();
  }
  await log.group('Backups', async () => {
    if (inputs.backupCheckCommand) await backupCommandRow(list, ctx, endpoint);
    if (inputs.backupDir) await backupDirRow(list, ctx);
    if (!inputs.backupCheckCommand && !inputs.backupDir)
      list.add('backups', 'warn', 'not checked: set backup-check-command or backup-dir so that this checklist proves backups of the new primary run');
  });
  const summary = list.markdown('zdm post-cutover checklist', `New primary: \`${endpoint}\`.`);
  const result: StepResult<'post-cutover'> = { outputs: { checks: list.json(), 'latency-p50-ms': p50, 'latency-p99-ms': p99 }, summary };
  list.throwIfFailed('post-cutover checklist failed', result);
  return result;
}
