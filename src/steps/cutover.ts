/**
 * cutover: a linear script. Lag gate, fence, final position, proof it is applied, durability
 * restored, promotion; an abort between any two phases before promotion gives the source its
 * writes back. After promotion nothing is undone: there must never be two primaries.
 */
import { openEngine, tuningFromInput } from '../engines/index.js';
import type { Engine, Fence, StepContext, TuningItem, TuningPlan } from '../engines/engine.js';
import { InputError, SafetyError, UserError, describeError } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { lastLines } from '../hosts/host.js';
import { keepReplicationTunnel, stopReplicationTunnel } from '../hosts/transport.js';
import { heading, table } from '../report/markdown.js';
import { describeLag, withinBounds } from './await-lag-zero.js';
import { sleep, type StepResult } from './step.js';

interface Event {
  at: number;
  what: string;
}

class Timeline {
  readonly events: Event[] = [];
  constructor(private readonly ctx: StepContext) {}
  mark(what: string, at = Date.now()): void {
    this.events.push({ at, what });
    this.ctx.log.info(what);
  }
  rows(): string[][] {
    const t0 = this.events[0]?.at ?? 0;
    return this.events.map((e) => [`+${e.at - t0} ms`, e.what]);
  }
}

async function lagGate(engine: Engine, ctx: StepContext): Promise<string> {
  const hb = await engine.startHeartbeat();
  try {
    // Two heartbeats, so that the reading on the target is a fresh one.
    await sleep(1200);
    const s = await engine.measureLag();
    if (s.fatal || !withinBounds(s, ctx.inputs)) {
      throw new SafetyError(
        `lag is too high to block writes now (${describeLag(s)}; bounds ${ctx.inputs.maxLagBytes} bytes and ${ctx.inputs.maxLagSeconds} s${s.streaming ? '' : '; the target is not streaming'}). Nothing was changed. Run await-lag-zero, then cutover again. ${s.fatal ?? s.detail}`,
      );
    }
    return describeLag(s);
  } finally {
    await hb.stop();
  }
}

/** What follows promotion: hand over the endpoint, restore the remaining settings, clean up. Safe to run again. */
async function afterPromotion(engine: Engine, ctx: StepContext, plan: TuningPlan | undefined, tl: Timeline): Promise<string[]> {
  const { inputs, log } = ctx;
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
  for (const n of notes)
    if (n.startsWith('WARNING: ')) log.warn(n.slice('WARNING: '.length));
    else log.info(n);
  return notes;
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
    if (resume) {
      log.warn(
        `continuing an interrupted cutover (${state.detail}): no write can have been acknowledged by the source since its fence, so the lag gate is skipped; the target must still prove it applied the source's last write before it is promoted`,
      );
    } else {
      const lag = await lagGate(engine, ctx);
      tl.mark(`lag gate passed: ${lag}`);
    }

    let fence: Fence | undefined;
    let promoted = false;
    let finalPos = '';
    try {
      fence = await engine.fence(resume);
      tl.mark(`source fenced (${fence.mode}): writes blocked`, fence.startedAt);
      tl.mark('fence verified');
      finalPos = await engine.finalPosition(fence);
      tl.mark(`final source position captured after the fence: ${finalPos}`);
      failpoint('cutover:after-fence');
      await engine.waitApplied(finalPos, inputs.applyTimeoutSeconds * 1000);
      tl.mark(`target has applied ${finalPos}`);
      if (durability.length) {
        await engine.revertTuning(durability);
        tl.mark(`durability restored before promotion: ${durability.map((i) => `${i.name}=${i.original}`).join(', ')}`);
      }
      promoted = true; // from here on the target may be a primary: never give the source its writes back
      await engine.promote(fence);
      failpoint('cutover:after-promote');
    } catch (e) {
      const fenceOf = fence ?? (e as { fence?: Fence }).fence;
      if (promoted) {
        throw new UserError(
          `promotion of the target failed or is uncertain: ${describeError(e)}. The source stays fenced. Check the target: if it is a primary (SELECT pg_is_in_recovery() returns false), point the application at it; if not, lift the fence on the source by hand.`,
          { cause: e },
        );
      }
      if (fenceOf) {
        log.warn(`cutover aborted after the fence: ${describeError(e)}. Giving the source its writes back.`);
        try {
          await engine.unfence(fenceOf);
          tl.mark('source unfenced: it takes writes again');
        } catch (u) {
          throw new UserError(
            `cutover aborted (${describeError(e)}) AND giving the source its writes back failed: ${describeError(u)}. The source is still fenced: lift the fence by hand.`,
            { cause: e },
          );
        }
        throw new UserError(`cutover aborted, the source has its writes back and the target is still a replica: ${describeError(e)}`, { cause: e });
      }
      throw e;
    }
    const promotedAt = Date.now();
    tl.mark('target promoted: it accepts writes');
    const writeBlockedMs = promotedAt - fence.startedAt;
    log.info(`write-blocked window: ${writeBlockedMs} ms`);

    const endpoint = engine.endpoint();
    const notes = await afterPromotion(engine, ctx, plan, tl);

    const summary =
      heading('zdm cutover') +
      `**Write-blocked window: ${writeBlockedMs} ms** (fence: ${fence.mode}). New primary: \`${endpoint}\`.\n\n` +
      table(['time', 'event'], tl.rows()) +
      (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : '');
    return {
      outputs: { endpoint, 'write-blocked-ms': String(writeBlockedMs), 'final-position': finalPos, fence: fence.mode },
      summary,
    };
  } finally {
    await engine.close();
  }
}
