/**
 * Watching the target close the gap: the lag bounds, how fast it closes, and why it does not. Shared
 * by await-lag-zero, the lag gate of cutover and rollback (src/switch/), and the benchmarks.
 */
import type { Engine, LagSample, StepContext } from '../engines/engine.js';
import type { Inputs } from '../inputs.js';
import { UserError } from '../errors.js';
import { formatBytes, formatSeconds, Progress } from '../log.js';
import { sleep } from '../sleep.js';
import { CpuSampler, describeRates, findBottleneck, rates, type CpuUse } from './diagnosis.js';

const POLL_MS = 500;
const NOT_STREAMING_LIMIT_MS = 30_000;

export function withinBounds(s: LagSample, inputs: Pick<Inputs, 'maxLagBytes' | 'maxLagSeconds'>): boolean {
  return s.streaming && s.bytes <= inputs.maxLagBytes && s.seconds !== undefined && s.seconds <= inputs.maxLagSeconds;
}

/** Bytes per second by which lag shrinks, over the samples of the last `windowMs`. */
export function closingRate(history: LagSample[], windowMs = 10_000): number | undefined {
  const last = history[history.length - 1];
  const first = history.find((h) => h.at >= last.at - windowMs);
  if (!first || first === last || last.at === first.at) return undefined;
  return (first.bytes - last.bytes) / ((last.at - first.at) / 1000);
}

export function describeLag(s: LagSample): string {
  // An engine that cannot place the target's position yet (a MySQL replica before its first event) reports the largest distance.
  const behind = s.bytes >= Number.MAX_SAFE_INTEGER ? 'position not known yet' : `${formatBytes(s.bytes)} behind`;
  return `${behind}, heartbeat ${s.seconds === undefined ? 'not seen yet' : `${s.seconds.toFixed(2)} s`}`;
}

/** What to tell the user when lag did not close. */
export function diagnose(history: LagSample[], inputs: Inputs, cpu?: CpuUse): string {
  const last = history[history.length - 1];
  const rate = closingRate(history, 60_000);
  const lines = [`last reading: ${describeLag(last)}; ${last.detail}`];
  const r = rates(history, 60_000);
  const measured = describeRates(r, cpu);
  if (measured) lines.push(`measured over the last minute: ${measured}`);
  const bottleneck = findBottleneck(last, r, cpu, inputs.engine);
  if (bottleneck && last.streaming) lines.push(`bottleneck: ${bottleneck}`);
  if (!last.streaming)
    lines.push(
      'the target is not streaming from the source: check that the source is up, that the target reaches it (source-replication-address, pg_hba.conf, firewall), and the target server log',
    );
  else if (rate === undefined || rate <= 0)
    lines.push(
      "lag is not shrinking: the source writes faster than the target applies. Check the target's disk and CPU (iowait), run tune-target, or wait for a quieter period",
    );
  else lines.push(`lag shrinks at ${formatBytes(rate)}/s; at that rate it needs about ${formatSeconds(last.bytes / rate)} more: raise timeout-seconds`);
  if (last.seconds === undefined) lines.push(`no heartbeat row is visible on the target yet (${inputs.heartbeatTable})`);
  return lines.join('\n');
}

export interface LagWatch {
  history: LagSample[];
  waitedSeconds: number;
  /** Rates and the target's CPU shares over the last minute, for the summary. */
  measured: string;
}

/** Polls lag until it stays within bounds for settle-seconds. Shared with the rehearsal. */
export async function watchLag(engine: Engine, ctx: StepContext): Promise<LagWatch> {
  const { inputs, log } = ctx;
  const started = Date.now();
  const history: LagSample[] = [];
  const progress = new Progress(log);
  let withinSince: number | undefined;
  let streamingSeen = Date.now();
  const cpu = new CpuSampler(ctx.targetHost);
  for (;;) {
    const [s] = await Promise.all([engine.replication.measureLag(), cpu.sample()]);
    history.push(s);
    if (history.length > 7200) history.splice(0, history.length - 7200);
    if (s.fatal) throw new UserError(`replication cannot catch up: ${s.fatal}\n${s.detail}`);
    if (s.streaming) streamingSeen = s.at;
    const rate = closingRate(history);
    const eta = rate && rate > 0 ? ` ETA ${formatSeconds(s.bytes / rate)}` : '';
    const measured = describeRates(rates(history), cpu.recent());
    progress.report(
      `lag: ${describeLag(s)}${rate !== undefined ? `; closing at ${formatBytes(Math.max(0, rate))}/s` : ''}${eta}${measured ? ` (${measured})` : ''}`,
    );
    if (withinBounds(s, inputs)) {
      withinSince ??= s.at;
      if (s.at - withinSince >= inputs.settleSeconds * 1000) {
        progress.report(`caught up: ${describeLag(s)} for ${inputs.settleSeconds} s`, true);
        return { history, waitedSeconds: (Date.now() - started) / 1000, measured: describeRates(rates(history, 60_000), cpu.recent(60_000)) };
      }
    } else withinSince = undefined;
    if (s.at - streamingSeen > NOT_STREAMING_LIMIT_MS) {
      throw new UserError(
        `the target has not been streaming from the source for ${NOT_STREAMING_LIMIT_MS / 1000} s:\n${diagnose(history, inputs, cpu.recent(60_000))}`,
      );
    }
    if (Date.now() - started > inputs.timeoutSeconds * 1000) {
      throw new UserError(`the target did not catch up within timeout-seconds (${inputs.timeoutSeconds} s):\n${diagnose(history, inputs, cpu.recent(60_000))}`);
    }
    await sleep(POLL_MS);
  }
}
