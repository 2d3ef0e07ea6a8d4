/**
 * cutover: a linear script. Lag gate, fence, final position, proof it is applied, durability
 * restored, promotion; an abort between any two phases before promotion gives the source its
 * writes back. After promotion nothing is undone: there must never be two primaries.
 */
import { openEngine, tuningFromInput } from '../engines/index.js';
import type { Engine, StepContext, TuningItem, TuningPlan } from '../engines/engine.js';
import { InputError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import { keepReplicationTunnel, stopReplicationTunnel } from '../hosts/transport.js';
import { heading, table } from '../report/markdown.js';
import { CUTOVER_ROLES, fenceAndPromote, lagGate, Timeline } from './switchover.js';
import { prepareReverse, startReverse } from './reverse-replication.js';
import type { StepResult } from './step.js';

/** What follows promotion: hand over the endpoint, restore the remaining settings, clean up. Safe to run again. */
async function afterPromotion(engine: Engine, ctx: StepContext, plan: TuningPlan | undefined, tl: Timeline): Promise<string[]> {
  const { inputs } = ctx;
  const endpoint = engine.endpoint();
  const notes: string[] = [];
  if (inputs.onPromotedCommand) {
    const r = await ctx.runnerHost.shell(inputs.onPromotedCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 });
    if (r.code !== 0)
      notes.push(
        `WARNING: on-promoted-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. The target IS the primary now: point the application at ${endpoint} yourself.`,
      );
    else tl.mark('on-promoted-command done');
  }
  const rest = plan?.items.filter((i) => i.revertAtCutover && !i.relaxesDurability) ?? [];
  if (rest.length) {
    await engine.revertTuning(rest);
    tl.mark(`catch-up settings restored: ${rest.map((i) => `${i.name}=${i.original}`).join(', ')}`);
  }
  notes.push(...(await engine.cleanupAfterPromotion()));
  if (inputs.sourceSshHost && (await stopReplicationTunnel(inputs))) notes.push('stopped the replication tunnel');
  return notes;
}

function logNotes(ctx: StepContext, notes: string[]): void {
  for (const n of notes)
    if (n.startsWith('WARNING: ')) ctx.log.warn(n.slice('WARNING: '.length));
    else ctx.log.info(n);
}

/**
 * A re-run after the target was promoted (the runner crashed, or the step failed after promotion):
 * nothing is fenced or promoted again; durability and what follows promotion are made sure of.
 */
async function alreadyPromoted(engine: Engine, ctx: StepContext, plan: TuningPlan | undefined, durability: TuningItem[], detail: string): Promise<StepResult> {
  const tl = new Timeline(ctx);
  ctx.log.warn(`the cutover was already done (${detail}): nothing is fenced or promoted again; finishing what follows promotion`);
  if (durability.length) {
    await engine.revertTuning(durability);
    tl.mark(`durability made sure of: ${durability.map((i) => `${i.name}=${i.original}`).join(', ')}`);
  }
  const notes = await afterPromotion(engine, ctx, plan, tl);
  if (ctx.inputs.reverseReplication)
    notes.push('WARNING: reverse replication was not set up: this run found the cutover already done. Set it up by hand, or keep the old source as it is.');
  logNotes(ctx, notes);
  const endpoint = engine.endpoint();
  const summary =
    heading('zdm cutover') +
    `**The cutover had already been done** by an earlier run (${detail}); nothing was fenced or promoted again. New primary: \`${endpoint}\`.\n\n` +
    (tl.events.length ? table(['time', 'event'], tl.rows()) : '') +
    (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : '');
  return { outputs: { endpoint, 'write-blocked-ms': '', 'final-position': '', fence: 'already-done' }, summary };
}

export async function cutover(ctx: StepContext): Promise<StepResult> {
  const { inputs, log } = ctx;
  if (inputs.fence === 'shutdown' && !inputs.sourceStopCommand) {
    throw new InputError(
      'source-stop-command',
      'is required with fence: shutdown (the default): give the command that stops the source (fast shutdown), or choose fence: read-only',
    );
  }
  const plan = tuningFromInput(inputs.tuning, inputs.engine);
  if (!plan) log.warn("no tuning input: zdm cannot restore settings tune-target changed; pass tune-target's `tuning` output");
  await keepReplicationTunnel(ctx);
  const engine = openEngine(ctx);
  const tl = new Timeline(ctx);
  try {
    // Without the tuning input, zdm's own persisted profile still tells what it relaxed: a new primary never keeps that.
    const durability = plan ? plan.items.filter((i) => i.relaxesDurability) : ((await engine.relaxedDurability?.()) ?? []);
    if (!plan && durability.length)
      log.warn(
        `zdm's catch-up profile relaxed durability on the target (${durability.map((i) => `${i.name}=${i.value}`).join(', ')}): cutover sets it durable before promotion`,
      );
    // Read what the servers really are: this may be a re-run after a failure or a runner crash.
    const state = await engine.migrationState();
    if (state.target === 'primary' && state.seededByZdm && state.source !== 'writable')
      return await alreadyPromoted(engine, ctx, plan, durability, state.detail);
    const resume = (state.target === 'streaming-replica' || state.target === 'broken-replica') && state.source !== 'writable';

    // With reverse-replication, everything it needs is proven before writes are blocked.
    const reverse = inputs.reverseReplication ? await prepareReverse(engine, ctx) : undefined;
    if (resume) {
      log.warn(
        `continuing an interrupted cutover (${state.detail}): no write can have been acknowledged by the source since its fence, so the lag gate is skipped; the target must still prove it applied the source's last write before it is promoted`,
      );
    } else {
      const lag = await lagGate(engine, ctx);
      tl.mark(`lag gate passed: ${lag}`);
    }
    const { fence, finalPos, promotedAt } = await fenceAndPromote(engine, ctx, tl, durability, CUTOVER_ROLES, resume);
    const writeBlockedMs = promotedAt - fence.startedAt;
    log.info(`write-blocked window: ${writeBlockedMs} ms`);

    const endpoint = engine.endpoint();
    const notes = await afterPromotion(engine, ctx, plan, tl);
    const reverseOutputs = await startReverse(engine, ctx, reverse, fence, finalPos, tl, notes);
    logNotes(ctx, notes);

    const summary =
      heading('zdm cutover') +
      `**Write-blocked window: ${writeBlockedMs} ms** (fence: ${fence.mode}). New primary: \`${endpoint}\`.\n\n` +
      table(['time', 'event'], tl.rows()) +
      (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : '');
    return {
      outputs: { endpoint, 'write-blocked-ms': String(writeBlockedMs), 'final-position': finalPos, fence: fence.mode, ...reverseOutputs },
      summary,
      timeline: tl.phases(),
    };
  } finally {
    await engine.close();
  }
}
