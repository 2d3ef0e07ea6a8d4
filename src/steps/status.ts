/**
 * status: where a migration stands, from its record and the live state of both servers. It never
 * changes anything (not even the record). One line per fact, JSON outputs, and a failure past the
 * thresholds, so that a scheduled workflow (examples/workflows/watch.yml) alerts someone while a
 * cutover waits days for a reviewer: replication stopped, the source's WAL or binlogs growing
 * towards a full disk, a slot already lost.
 */
import { openEngine } from '../engines/index.js';
import type { LagSample, Retention, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { addressOf } from '../hosts/endpoint.js';
import { readTunnelStatus } from '../hosts/supervised-tunnel.js';
import { replicationTunnelName } from '../hosts/transport.js';
import { formatBytes } from '../log.js';
import { heading, table } from '../report/markdown.js';
import { phaseAt, type Phase } from '../state/record.js';
import { StepFailed, type StepResult } from './step.js';

/** How long status watches the source's write position to tell its rate. */
const SAMPLE_MS = 5_000;

const NEXT: Record<Phase | 'none', string> = {
  none: 'preflight, then tune-target',
  tuned: 'seed-replica',
  seeding: 'seed-replica again (the last one did not finish), or abort',
  seeded: 'await-lag-zero',
  'caught-up': 'cutover (behind the approval), or abort to abandon the migration',
  fenced: 'cutover again: an interrupted cutover continues from the servers, or gives the source its writes back',
  promoted: 'post-cutover, then finalize (or rollback, with reverse replication)',
  'rolled-back': 'finalize on the old source, or a new migration',
  finalized: 'nothing: the migration is over',
  reverted: 'nothing: tune-target was undone',
  aborted: 'nothing: the migration was abandoned',
};

interface Fact {
  name: string;
  value: string;
  verdict: 'ok' | 'warn' | 'fail';
}

/** The source's disk can be read only where zdm runs commands on the source's host: over SSH, or on this machine. */
function sourceDiskReadable(ctx: StepContext): boolean {
  if (ctx.ssh) return true;
  const host = ctx.inputs.sourceUrl ? addressOf(ctx.inputs.sourceUrl).host : '';
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export async function status(ctx: StepContext): Promise<StepResult<'status'>> {
  const { inputs, log, journal } = ctx;
  const rec = journal?.record;
  const phase: Phase | 'none' = rec?.phase ?? 'none';
  const facts: Fact[] = [];
  const add = (name: string, value: string, verdict: Fact['verdict'] = 'ok') => {
    facts.push({ name, value, verdict });
    const line = `${name}: ${value}`;
    if (verdict === 'ok') log.info(line);
    else log.warn(`${verdict === 'fail' ? 'FAIL ' : ''}${line}`);
  };
  add('migration', rec?.events.length ? `${rec.id} (${journal!.store.pathOf(rec.id)})` : `none recorded under ${inputs.stateDir} for ${rec?.id ?? '?'}`);
  add('phase', phase === 'none' ? 'none' : `${phase} since ${phaseAt(rec!, phase) ?? rec!.updatedAt}`);
  const waiting = ['seeded', 'caught-up', 'seeding'].includes(phase);

  const engine = openEngine(ctx);
  let lag: LagSample | undefined;
  let r1: Retention | undefined;
  let r2: Retention | undefined;
  let elapsed = 0;
  try {
    const state = await engine.replication.migrationState();
    add('servers', state.detail);
    lag = await engine.replication.measureLag().catch((e: unknown) => {
      add('lag', `cannot be measured (${describeError(e)})`, waiting ? 'fail' : 'warn');
      return undefined;
    });
    if (lag) {
      add('replicating', lag.streaming ? 'yes' : `no (${lag.detail})`, lag.streaming || !waiting ? 'ok' : 'fail');
      add('lag', `${formatBytes(lag.bytes)}${lag.fatal ? ` (${lag.fatal})` : ''}`, lag.fatal ? 'fail' : 'ok');
      add('heartbeat age', lag.seconds === undefined ? 'no heartbeat row on the target' : `${lag.seconds.toFixed(1)} s`);
    }
    const started = Date.now();
    r1 = await engine.lifecycle.retention().catch((e: unknown) => {
      add('retained', `cannot be read on the source (${describeError(e)})`, 'fail');
      return undefined;
    });
    if (r1) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      r2 = await engine.lifecycle.retention();
      elapsed = (Date.now() - started) / 1000;
    }
  } finally {
    await engine.close();
  }

  const out = { retained: '', free: '', hours: '' };
  if (r1 && r2) {
    const rate = Math.max(0, (r2.writtenBytes - r1.writtenBytes) / elapsed);
    const growth = r1.retainedBytes !== undefined && r2.retainedBytes !== undefined ? (r2.retainedBytes - r1.retainedBytes) / elapsed : undefined;
    add('source writes', `${formatBytes(rate)}/s of ${inputs.engine === 'postgres' ? 'WAL' : 'binlog'} (over ${elapsed.toFixed(1)} s)`);
    add('retention limit', r2.limit);
    for (const w of r2.warnings) log.warn(w);
    if (r2.lost) add('lost', r2.lost, 'fail');
    const retained = r2.retainedBytes;
    if (retained !== undefined) out.retained = String(retained);
    let free: number | undefined;
    if (r2.dir && sourceDiskReadable(ctx)) free = await ctx.sourceHost.freeBytes(r2.dir).catch(() => undefined);
    if (free !== undefined) out.free = String(free);
    const over =
      retained === undefined
        ? undefined
        : inputs.maxRetainedBytes !== undefined && retained > inputs.maxRetainedBytes
          ? `more than max-retained-bytes ${formatBytes(inputs.maxRetainedBytes)}`
          : free !== undefined && retained > free / 2
            ? `more than half of the source's free disk (${formatBytes(free)})`
            : undefined;
    add(
      'retained',
      retained === undefined ? `unknown (${r2.holder})` : `${formatBytes(retained)} kept on the source for ${r2.holder || 'nothing'}${over ? `: ${over}` : ''}`,
      over ? 'fail' : 'ok',
    );
    add(
      'source free disk',
      free === undefined
        ? `not readable from here (zdm reads it over source-ssh-host, or for a source on this machine)`
        : `${formatBytes(free)} under ${r2.dir}`,
    );
    // Retained grows at the write rate while the target does not apply; while it streams it stays flat.
    const growing = growth !== undefined && growth > 0 ? growth : !r2.active && retained !== undefined ? rate : 0;
    if (free !== undefined && growing > 0) {
      const hours = free / growing / 3600;
      out.hours = hours.toFixed(1);
      add(
        'disk full in',
        `${hours.toFixed(1)} h at ${formatBytes(growing)}/s of growth`,
        hours < inputs.minHoursToFull ? 'fail' : hours < inputs.minHoursToFull * 3 ? 'warn' : 'ok',
      );
    }
  }
  if (inputs.sourceSshHost && !inputs.sourceReplicationAddress) {
    const t = readTunnelStatus(inputs.tunnelDir, replicationTunnelName(inputs));
    add(
      'tunnel',
      t ? `running (pid ${t.pid})` : `not running: the target cannot replicate through it; the next step starts it again (or abort removes it)`,
      t || !waiting ? 'ok' : 'fail',
    );
  }
  add('next step', NEXT[phase]);

  const failed = facts.filter((f) => f.verdict === 'fail');
  const outputs = {
    phase,
    replicating: lag?.streaming ? 'true' : 'false',
    'lag-bytes': lag ? String(lag.bytes) : '',
    'heartbeat-age-seconds': lag?.seconds === undefined ? '' : lag.seconds.toFixed(1),
    'retained-bytes': out.retained,
    'source-free-bytes': out.free,
    'hours-to-full': out.hours,
    'next-step': NEXT[phase],
    report: JSON.stringify({ id: rec?.id, phase, facts }),
  };
  const summary =
    heading('zdm status') +
    table(
      ['fact', 'value', ''],
      facts.map((f) => [f.name, f.value, f.verdict === 'ok' ? '' : f.verdict.toUpperCase()]),
    );
  const result = { outputs, summary };
  if (failed.length) throw new StepFailed(`status: ${failed.map((f) => `${f.name}: ${f.value}`).join('; ')}`, result);
  return result;
}
