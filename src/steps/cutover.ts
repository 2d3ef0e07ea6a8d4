/**
 * cutover: a linear script. Lag gate, fence, final position, proof it is applied, durability
 * restored, promotion; an abort between any two phases before promotion gives the source its
 * writes back. After promotion nothing is undone: there must never be two primaries.
 */
import { openEngine, tuningFromInput } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { InputError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import { keepReplicationTunnel, stopReplicationTunnel } from '../hosts/transport.js';
import { heading, table } from '../report/markdown.js';
import { fenceAndPromote, lagGate, Timeline } from './switchover.js';
import { prepareReverse, startReverse } from './reverse-replication.js';
import type { StepResult } from './step.js';

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
    // With reverse-replication, everything it needs is proven before writes are blocked.
    const reverse = inputs.reverseReplication ? await prepareReverse(engine, ctx) : undefined;
    const lag = await lagGate(engine, ctx);
    tl.mark(`lag gate passed: ${lag}`);

    const durability = plan?.items.filter((i) => i.relaxesDurability) ?? [];
    const { fence, finalPos, promotedAt } = await fenceAndPromote(engine, ctx, tl, durability);
    const writeBlockedMs = promotedAt - fence.startedAt;
    log.info(`write-blocked window: ${writeBlockedMs} ms`);

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
    const reverseOutputs = await startReverse(engine, ctx, reverse, fence, finalPos, tl, notes);
    for (const n of notes) (n.startsWith('WARNING') ? log.warn : log.info).call(log, n);

    const summary =
      heading('zdm cutover') +
      `**Write-blocked window: ${writeBlockedMs} ms** (fence: ${fence.mode}). New primary: \`${endpoint}\`.\n\n` +
      table(['time', 'event'], tl.rows()) +
      (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : '');
    return {
      outputs: { endpoint, 'write-blocked-ms': String(writeBlockedMs), 'final-position': finalPos, fence: fence.mode, ...reverseOutputs },
      summary,
    };
  } finally {
    await engine.close();
  }
}
