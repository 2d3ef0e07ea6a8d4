/** await-lag-zero: watch the target close the gap; succeed only when it has truly caught up. */
import { openEngine } from '../engines/index.js';
import type { Engine, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { formatBytes, formatSeconds } from '../log.js';
import { heading, table } from '../report/markdown.js';
import { lagChart } from '../report/lag-chart.js';
import { keepReplicationTunnel } from '../hosts/transport.js';
import type { StepResult } from './step.js';
import { watchLag, type LagWatch } from '../lag/watch.js';

export async function awaitLagZero(ctx: StepContext): Promise<StepResult<'await-lag-zero'>> {
  const { inputs, log } = ctx;
  await keepReplicationTunnel(ctx);
  const engine = openEngine(ctx);
  try {
    // What the source keeps for the target while it catches up: said at the start (with what bounds it) and compared at the end.
    const held = await retained(engine, ctx, 'at the start');
    const heartbeat = await engine.replication.startHeartbeat();
    let watch: LagWatch;
    try {
      watch = await log.group('Waiting for the target to catch up', () => watchLag(engine, ctx));
    } finally {
      await heartbeat.stop();
    }
    const after = await retained(engine, ctx, 'now');
    if (held !== undefined && after !== undefined && after > held)
      log.warn(
        `the WAL/binlog the source keeps for the target grew while it caught up (${formatBytes(held)} -> ${formatBytes(after)}): watch it with zdm status while the cutover waits`,
      );
    const last = watch.history[watch.history.length - 1];
    const first = watch.history[0];
    const lagHistory = watch.history.map((h) => ({
      t: (h.at - first.at) / 1000,
      bytes: h.bytes === Number.MAX_SAFE_INTEGER ? 0 : h.bytes,
      seconds: h.seconds,
    }));
    const summary =
      heading('zdm await-lag-zero') +
      table(
        ['', 'bytes behind', 'heartbeat lag'],
        [
          ['at start', formatBytes(first.bytes), first.seconds === undefined ? '-' : `${first.seconds.toFixed(2)} s`],
          ['at end', formatBytes(last.bytes), last.seconds === undefined ? '-' : `${last.seconds.toFixed(2)} s`],
        ],
      ) +
      `\nCaught up after ${formatSeconds(watch.waitedSeconds)} (bounds: ${formatBytes(inputs.maxLagBytes)}, ${inputs.maxLagSeconds} s, held for ${inputs.settleSeconds} s).\n\n` +
      (watch.measured ? `Over the last minute: ${watch.measured}.\n\n` : '') +
      lagChart(lagHistory);
    return {
      outputs: {
        'lag-bytes': String(last.bytes),
        'lag-seconds': last.seconds === undefined ? '' : last.seconds.toFixed(3),
        'waited-seconds': watch.waitedSeconds.toFixed(1),
      },
      summary,
      lagHistory,
    };
  } finally {
    await engine.close();
  }
}

/** The bytes the source keeps for the target, logged with what bounds them; undefined when they cannot be read. */
async function retained(engine: Engine, ctx: StepContext, when: string): Promise<number | undefined> {
  try {
    const r = await engine.lifecycle.retention();
    if (r.retainedBytes !== undefined)
      ctx.log.info(`the source keeps ${formatBytes(r.retainedBytes)} for the target ${when} (${r.holder || 'nothing holds it'}; ${r.limit})`);
    if (when === 'at the start') for (const w of r.warnings) ctx.log.warn(w);
    return r.retainedBytes;
  } catch (e) {
    ctx.log.info(`what the source keeps for the target cannot be read (${describeError(e)})`);
    return undefined;
  }
}
