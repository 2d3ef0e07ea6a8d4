/**
 * `zdm rehearse`: a whole migration on throwaway servers under a live write load, through the
 * same runStep path the actions use, ending with a count of acknowledged writes missing on the target.
 */
import * as os from 'node:os';
import { describeError } from '../errors.js';
import { REHEARSAL_STEPS, type RehearsalStepName, type StepName } from '../inputs.js';
import { TextLog, type Log } from '../log.js';
import { runStep } from '../run-step.js';
import { PostgresFixture } from './postgres.js';
import { MariadbFixture, masterUserPrivileges } from './mariadb.js';
import type { RehearsalFixture } from './fixture.js';
import { clientPause, WriteLoad, type WriteStats } from './writer.js';
import type { SwitchMark } from '../engines/engine.js';
import { startRehearsalPooler, type PoolerKind, type RehearsalPooler } from './pooler.js';
import { downsample, type LagPoint } from '../report/lag-chart.js';
import { startSshd, type SshdSandbox } from '../sandbox/sshd.js';
import { startWan, type LinkMeasurement, type RelayStats, type WanBed } from '../sandbox/wan.js';
import { freePort } from '../sandbox/util.js';
import { stopSupervisedTunnel } from '../hosts/supervised-tunnel.js';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { auditMarkdown, type AuditRecord } from '../state/audit.js';
import * as path from 'node:path';

/** What the audit record of a rehearsal says about where its data lives. */
const REHEARSAL_LOCATION = 'rehearsal: throwaway servers on this machine';

async function listTunnels(dir: string): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return [...new Set(files.filter((f) => f.endsWith('.json') && !f.endsWith('.status.json')).map((f) => f.slice(0, -5)))];
}

export interface RehearsalOptions {
  engine: 'postgres' | 'mariadb' | 'mysql';
  sizeMb: number;
  writesPerSecond: number;
  fence: 'auto' | 'shutdown' | 'read-only' | 'accounts';
  targetMemory: string;
  keep: boolean;
  /** Reach the source only through a real sshd on loopback. */
  ssh?: boolean;
  /** After cutover (with reverse replication), roll back to the source under the same write load. */
  rollback?: boolean;
  /** Servers with production durability (the default); false: fsync off, faster and labelled so. */
  durable?: boolean;
  /** The writing clients connect only through this pooler, which cutover drives. */
  pooler?: PoolerKind;
  /** seed-replica's method (input `method`); unset: the input's default. */
  method?: 'auto' | 'physical' | 'logical';
  /** MariaDB: zdm reaches the source as a managed service's master user (no SUPER): logical seed, accounts fence. */
  noSuper?: boolean;
  /** PostgreSQL majors of the source and the target; different majors migrate by logical replication. */
  sourceMajor?: number;
  targetMajor?: number;
  /**
   * The verify step after the replica caught up, before cutover: strict compares every row once with
   * the write load paused (a quiet source); online compares under the writes, rechecking what differs.
   * Unset: strict when the PostgreSQL majors differ (the hashes must agree across versions), off otherwise.
   */
  verify?: RehearsalVerifyMode;
  /** The source (server and sshd) behind a WAN test bed with this round-trip time (src/sandbox/wan.ts). */
  rttMs?: number;
  /** The test bed's link rate in Mbit/s (tc htb on both ends); with rttMs, or alone. */
  bandwidthMbit?: number;
}

export type RehearsalVerifyMode = 'strict' | 'online' | 'off';

/** The verify step the rehearsal ran. */
export interface RehearsalVerifyReport {
  mode: 'strict' | 'online';
  ok: boolean;
  rowsCompared: number;
  mismatches: number;
  /** How long the writers were paused for it (strict), ms. */
  writesPausedMs: number;
}

/** The way back: rollback's window and the proof that the old source holds every acknowledged write. */
export interface RollbackReport {
  writeBlockedMs: number | null;
  clientWriteBlockedMs: number | null;
  fence: string;
  /** Writes the new primary acknowledged between cutover and rollback. */
  acknowledgedByNewPrimary: number;
  /** Writes the old source acknowledged after the rollback. */
  acknowledgedByOldSourceAfter: number;
  /** Acknowledged writes (from either side, all of them) not found on the old source. */
  missingOnOldSource: number | null;
}

export interface RehearsalReport {
  engine: string;
  serverVersion: string;
  ok: boolean;
  transport: 'local' | 'ssh';
  dataBytes: number;
  machine: { cpus: number; memoryBytes: number };
  steps: { name: string; seconds: number; ok: boolean; error?: string }[];
  /** The servers' durability: production-like, or fsync off (faster, and not what production sees). */
  durability: { durable: boolean; label: string; settings: Record<string, string> };
  writes: {
    acknowledged: number;
    missingOnTarget: number | null;
    /** Failed attempts: each failed request was retried until a side acknowledged it. */
    failed: number;
    /** Requests that saw at least one error before they were acknowledged. */
    failedRequests: number;
    perSecond: number;
    acknowledgedBySource: number;
    acknowledgedByTarget: number;
    /**
     * The cutover as the clients lived it, from the fence to their first write on the new primary:
     * each request's wait from when it was due until acknowledged (errors and retries included).
     */
    clientPauseMs: { p50: number; p99: number; max: number; requests: number } | null;
  };
  cutover: {
    writeBlockedMs: number | null;
    clientWriteBlockedMs: number | null;
    fence: string;
    /** Queries, connections and SSH commands zdm sent the source between the fence and the promotion. */
    sourceRoundTrips?: number;
    /** Where the write-blocked window went: each phase of the switch in order, then the clients' reconnect (ms). */
    phasesMs?: Record<string, number>;
  };
  rollback?: RollbackReport;
  verify?: RehearsalVerifyReport;
  /** The WAN test bed the source sat behind: as asked, as measured, and what the relay saw. */
  wan?: {
    rttMs: number;
    bandwidthMbit: number;
    measured?: LinkMeasurement;
    relay?: RelayStats;
    /** What seed-replica carried from the source through the link, and at what rate. */
    seed?: { bytes: number; seconds: number; mbit: number };
  };
  /** Inserts through the sequences on the new primary after cutover, and how many collided with a value already used. */
  sequences?: { inserted: number; collisions: number };
  /**
   * With --pooler: which; how long cutover held the clients' requests in it (PAUSE to RESUME; null for
   * HAProxy, which cannot hold them); the requests that failed and the clients' reconnect time (last
   * write acknowledged by the source to the first by the new primary, through the pooler).
   */
  pooler?: { kind: PoolerKind; heldMs: number | null; failedRequests: number; failedAttempts?: number; reconnectMs: number | null };
  outputs: Record<string, Record<string, string>>;
  /** Lag while await-lag-zero watched, downsampled. */
  lag: LagPoint[];
  /** The state directory that holds the rehearsal's migration record. */
  stateDir?: string;
  /** The audit record the steps wrote there (src/state/audit.ts), and its page. */
  audit?: { path: string; record: AuditRecord; markdown: string };
  error?: string;
}

export async function rehearse(opts: RehearsalOptions, log: Log = new TextLog()): Promise<RehearsalReport> {
  const report: RehearsalReport = {
    engine: opts.engine,
    serverVersion: '',
    ok: false,
    transport: opts.ssh ? 'ssh' : 'local',
    dataBytes: 0,
    machine: { cpus: os.availableParallelism(), memoryBytes: os.totalmem() },
    steps: [],
    durability: { durable: opts.durable !== false, label: durabilityLabel(opts.durable !== false), settings: {} },
    writes: {
      acknowledged: 0,
      missingOnTarget: null,
      failed: 0,
      failedRequests: 0,
      perSecond: opts.writesPerSecond,
      acknowledgedBySource: 0,
      acknowledgedByTarget: 0,
      clientPauseMs: null,
    },
    cutover: { writeBlockedMs: null, clientWriteBlockedMs: null, fence: opts.fence },
    outputs: {},
    lag: [],
  };
  log.info(`starting a throwaway ${opts.engine} source and target`);
  let fx: RehearsalFixture | undefined;
  let load: WriteLoad | undefined;
  let sshd: SshdSandbox | undefined;
  let tunnelDir: string | undefined;
  let timeline: SwitchMark[] = [];
  let pooler: RehearsalPooler | undefined;
  let wan: WanBed | undefined;
  try {
    const durable = opts.durable !== false;
    if (opts.rttMs !== undefined || opts.bandwidthMbit !== undefined) {
      wan = await startWan({ rttMs: opts.rttMs ?? 0, bandwidthMbit: opts.bandwidthMbit });
      report.wan = { rttMs: wan.rttMs, bandwidthMbit: wan.bandwidthMbit };
      log.info(`the source sits behind a ${wan.describe()}`);
    }
    const sourceNetns = wan?.placement;
    fx =
      opts.engine === 'postgres'
        ? await PostgresFixture.start({ rewindable: opts.rollback, durable, sourceMajor: opts.sourceMajor, targetMajor: opts.targetMajor, sourceNetns })
        : await MariadbFixture.start({ durable, engine: opts.engine, sourceNetns });
    if (wan && report.wan) {
      report.wan.measured = await wan.measure();
      log.info(
        `link as measured through the relay: RTT ${report.wan.measured.rttMs.toFixed(1)} ms, ${report.wan.measured.mbit.toFixed(0)} Mbit/s (one TCP stream)`,
      );
    }
    report.serverVersion = await fx.serverVersion();
    report.durability.settings = await fx.durability();
    log.info(
      `servers: ${report.durability.label} (${Object.entries(report.durability.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
    );
    log.info(`loading about ${opts.sizeMb} MB of sample data into the source`);
    report.dataBytes = await fx.loadSampleData(opts.sizeMb);
    if (opts.pooler) {
      pooler = await startRehearsalPooler(opts.pooler, fx);
      report.pooler = { kind: opts.pooler, heldMs: null, failedRequests: 0, reconnectMs: null };
      log.info(`the writing clients connect only through ${opts.pooler}`);
    }
    load = new WriteLoad(pooler?.writeTargets ?? fx.writeTargets(), opts.writesPerSecond);
    load.start();
    log.info(`write load running: ${opts.writesPerSecond} writes/s, each acknowledgement recorded`);
    const inputs = fx.stepInputs({ fence: opts.fence, targetMemory: opts.targetMemory });
    // The migration record of this rehearsal: kept after it, beside its report.
    report.stateDir = await mkdtemp(path.join(os.tmpdir(), 'zdm-rehearsal-state-'));
    for (const step of REHEARSAL_STEPS) Object.assign(inputs[step], { 'state-dir': report.stateDir, 'data-location': REHEARSAL_LOCATION });
    // Throwaway servers: nobody approves a rehearsal, and the record says so (require-approval false).
    inputs.cutover['require-approval'] = 'false';
    const crossMajor = opts.engine === 'postgres' && (opts.sourceMajor ?? 15) !== (opts.targetMajor ?? 15);
    const verifyMode = opts.verify ?? (crossMajor ? 'strict' : 'off');
    const wayBack = opts.rollback ? fx.wayBackInputs({ fence: opts.fence }) : undefined;
    if (wayBack) Object.assign(inputs.cutover, wayBack.cutover);
    if (wayBack) Object.assign(wayBack.rollback, { 'state-dir': report.stateDir, 'data-location': REHEARSAL_LOCATION, 'require-approval': 'false' });
    if (pooler) for (const step of ['preflight', 'cutover'] as const) Object.assign(inputs[step], pooler.inputs);
    if (opts.method) for (const step of ['preflight', 'seed-replica'] as const) inputs[step].method = opts.method;
    if (opts.noSuper && fx instanceof MariadbFixture) await asMasterUser(fx, inputs, wayBack?.rollback, log);
    if (opts.ssh) {
      sshd = await startSshd({ name: 'source-ssh', netns: sourceNetns });
      log.info(`the source is reached only through sshd on 127.0.0.1:${sshd.port} (host key ${sshd.hostKeyFingerprint})`);
      tunnelDir = `${sshd.baseDir}/tunnels`;
      const ssh = {
        'source-ssh-host': `127.0.0.1:${sshd.port}`,
        'source-ssh-user': sshd.user,
        'source-ssh-key': sshd.privateKey,
        'source-ssh-host-key': sshd.hostKeyFingerprint,
        'replication-tunnel-port': String(await freePort()),
        'tunnel-dir': tunnelDir,
      };
      for (const step of ['preflight', 'seed-replica', 'await-lag-zero', 'cutover'] as const) Object.assign(inputs[step], ssh);
    }
    for (const step of REHEARSAL_STEPS) {
      const raw: Record<string, string> = { ...inputs[step] };
      if (step === 'seed-replica' || step === 'cutover') raw.tuning = report.outputs['tune-target']?.tuning ?? '';
      const started = Date.now();
      const relayedBefore = wan?.stats().bytesFromSource ?? 0;
      const stepLog = new TextLog((l) => log.info(l), `[${step}] `);
      try {
        const result = await runStep(step, (n) => raw[n], stepLog);
        report.outputs[step] = result.outputs;
        if (step === 'cutover') timeline = result.timeline ?? [];
        if (result.lagHistory) report.lag = downsample(result.lagHistory, 120);
        report.steps.push({ name: step, seconds: (Date.now() - started) / 1000, ok: true });
      } catch (e) {
        report.steps.push({ name: step, seconds: (Date.now() - started) / 1000, ok: false, error: describeError(e) });
        throw e;
      }
      if (step === 'seed-replica' && wan && report.wan) {
        // The whole step: its checks and set-up too, so the rate is a floor of what the copy itself reached.
        const bytes = wan.stats().bytesFromSource - relayedBefore;
        const seconds = (Date.now() - started) / 1000;
        report.wan.seed = { bytes, seconds, mbit: (bytes * 8) / 1e6 / seconds };
      }
      if (step === 'await-lag-zero' && verifyMode !== 'off') await rehearseVerify(verifyMode, load, inputs[step], report, log);
    }
    report.cutover.fence = report.outputs.cutover.fence;
    if (report.outputs.cutover['source-round-trips']) report.cutover.sourceRoundTrips = Number(report.outputs.cutover['source-round-trips']);
    if (report.pooler) report.pooler.heldMs = Number(report.outputs.cutover['pooler-held-ms']) || null;
    if (wayBack) {
      report.outputs.rollback = await rehearseRollback(fx, load, wayBack.rollback, report, log, timeline);
      load = undefined;
      return report;
    }
    // Let the writer land a few writes on the new primary before counting.
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await load.stop();
    load = undefined;
    fillWrites(report, stats);
    fillClientPause(report, stats, timeline);
    report.cutover.writeBlockedMs = Number(report.outputs.cutover['write-blocked-ms']);
    const missing = await fx.missingOnTarget(stats.ackedSeqs);
    report.writes.missingOnTarget = missing.length;
    if (missing.length) log.warn(`acknowledged writes missing on the target: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ' ...' : ''}`);
    // Only a fixture whose writes take sequence values can tell (PostgreSQL's).
    if ('sequencesAfterCutover' in fx && fx.sequencesAfterCutover) report.sequences = await fx.sequencesAfterCutover();
    const collided = report.sequences?.collisions ?? 0;
    report.ok = missing.length === 0 && report.steps.every((s) => s.ok) && stats.acknowledgedBy.target > 0 && collided === 0 && report.verify?.ok !== false;
    if (stats.acknowledgedBy.target === 0) report.error = 'no write was acknowledged by the new primary after cutover';
    else if (collided) report.error = `${collided} insert(s) on the new primary took a sequence value the source had already used`;
  } catch (e) {
    report.error = describeError(e);
    log.warn(`rehearsal failed: ${report.error}`);
  } finally {
    if (load) fillWrites(report, await load.stop());
    if (tunnelDir) for (const name of await listTunnels(tunnelDir)) await stopSupervisedTunnel(tunnelDir, name);
    await sshd?.destroy();
    await pooler?.destroy();
    if (fx && !opts.keep) await fx.destroy();
    else if (fx) log.info(`kept the servers: ${fx.describe()}`);
    if (wan && report.wan) report.wan.relay = wan.stats();
    if (wan && !opts.keep) await wan.destroy();
    if (report.stateDir) report.audit = await readAudit(report.stateDir).catch(() => undefined);
  }
  return report;
}

/** The audit record of the rehearsal's migration (the only one in its state directory). */
async function readAudit(dir: string): Promise<RehearsalReport['audit']> {
  const name = (await readdir(dir)).find((f) => f.endsWith('.audit.json'));
  if (!name) return undefined;
  const file = path.join(dir, name);
  const record = JSON.parse(await readFile(file, 'utf8')) as AuditRecord;
  return { path: file, record, markdown: auditMarkdown(record, file) };
}

/**
 * --no-super: every step reaches the source as the master user; the seed is logical (the physical
 * one reads the source's files on its host) and preflight checks the accounts fence too.
 */
async function asMasterUser(
  fx: MariadbFixture,
  inputs: Record<RehearsalStepName, Record<string, string>>,
  rollback: Record<string, string> | undefined,
  log: Log,
): Promise<void> {
  const url = await fx.noSuperAdmin();
  for (const step of REHEARSAL_STEPS) if (inputs[step]['source-url']) inputs[step]['source-url'] = url;
  if (rollback) rollback['source-url'] = url;
  for (const step of ['preflight', 'seed-replica'] as const) inputs[step].method = 'logical';
  inputs.preflight.fence = 'accounts';
  log.info(`zdm reaches the source as zdm_master, without SUPER (${masterUserPrivileges(fx.engine).join(', ')}; ALL on zdm.*): method logical, fence accounts`);
}

/**
 * verify between await-lag-zero and cutover, with the inputs the other steps reach both sides by
 * (the SSH forward too). Strict compares each row once, so the writers pause meanwhile (and the
 * step first waits for the target to apply the source's position); online runs under the writes.
 */
async function rehearseVerify(mode: 'strict' | 'online', load: WriteLoad, sides: Record<string, string>, report: RehearsalReport, log: Log): Promise<void> {
  const raw = { ...sides, 'verify-mode': mode };
  const pausedBefore = load.pausedMs;
  if (mode === 'strict') {
    log.info('strict verify compares every row once, on a quiet source: the write load pauses while it runs (online verify runs under the writes)');
    await load.pause();
  }
  let outputs: Record<string, string>;
  try {
    outputs = await runReported('verify', raw, report, log);
  } finally {
    load.resume();
  }
  report.verify = {
    mode,
    ok: outputs.ok === 'true',
    rowsCompared: Number(outputs['rows-compared']),
    mismatches: Number(outputs.mismatches),
    writesPausedMs: load.pausedMs - pausedBefore,
  };
  if (mode === 'strict') log.info(`the write load resumed after ${report.verify.writesPausedMs} ms`);
}

async function runReported(step: StepName, raw: Record<string, string>, report: RehearsalReport, log: Log): Promise<Record<string, string>> {
  const started = Date.now();
  try {
    const result = await runStep(step, (n) => raw[n], new TextLog((l) => log.info(l), `[${step}] `));
    report.steps.push({ name: step, seconds: (Date.now() - started) / 1000, ok: true });
    return result.outputs;
  } catch (e) {
    report.steps.push({ name: step, seconds: (Date.now() - started) / 1000, ok: false, error: describeError(e) });
    throw e;
  }
}

/**
 * After cutover: the new primary takes the write load for a moment, rollback switches back, the
 * writes land on the old source again, and every acknowledged write must be on the old source.
 */
async function rehearseRollback(fx: RehearsalFixture, load: WriteLoad, raw: Record<string, string>, report: RehearsalReport, log: Log, timeline: SwitchMark[]) {
  if (report.outputs.cutover['reverse-replication'] !== 'running')
    throw new Error(`cutover did not set up reverse replication (reverse-replication=${report.outputs.cutover['reverse-replication']})`);
  await new Promise((r) => setTimeout(r, 1500));
  const outputs = await runReported('rollback', raw, report, log);
  await new Promise((r) => setTimeout(r, 1000));
  const stats = await load.stop();
  fillWrites(report, stats);
  fillClientPause(report, stats, timeline);
  report.cutover.writeBlockedMs = Number(report.outputs.cutover['write-blocked-ms']);
  const back = stats.switches.find((w, i) => w.from === 'target' && w.to === 'source' && i > 0);
  const rb: RollbackReport = {
    writeBlockedMs: Number(outputs['write-blocked-ms']),
    clientWriteBlockedMs: back?.gapMs ?? null,
    fence: outputs.fence,
    acknowledgedByNewPrimary: stats.acknowledgedBy.target,
    acknowledgedByOldSourceAfter: back ? stats.acknowledgedBy.source - back.acknowledgedBefore.source : 0,
    missingOnOldSource: null,
  };
  report.rollback = rb;
  const missing = await fx.missingOnSource(stats.ackedSeqs);
  rb.missingOnOldSource = missing.length;
  if (missing.length) log.warn(`acknowledged writes missing on the old source: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ' ...' : ''}`);
  report.ok =
    missing.length === 0 &&
    report.steps.every((s) => s.ok) &&
    rb.acknowledgedByNewPrimary > 0 &&
    rb.acknowledgedByOldSourceAfter > 0 &&
    report.verify?.ok !== false;
  if (rb.acknowledgedByNewPrimary === 0) report.error = 'no write was acknowledged by the new primary between cutover and rollback';
  else if (rb.acknowledgedByOldSourceAfter === 0) report.error = 'no write was acknowledged by the old source after rollback';
  return outputs;
}

function fillWrites(report: RehearsalReport, stats: Awaited<ReturnType<WriteLoad['stop']>>): void {
  report.writes.acknowledged = stats.acknowledged;
  report.writes.failed = stats.failed;
  report.writes.failedRequests = stats.failedRequests;
  report.writes.acknowledgedBySource = stats.acknowledgedBy.source;
  report.writes.acknowledgedByTarget = stats.acknowledgedBy.target;
  report.cutover.clientWriteBlockedMs = stats.clientBlockedMs ?? null;
  if (report.pooler)
    Object.assign(report.pooler, { failedRequests: stats.failedRequests, failedAttempts: stats.failed, reconnectMs: stats.clientBlockedMs ?? null });
}

export function durabilityLabel(durable: boolean): string {
  return durable ? 'production durability' : 'fsync=off (faster, NOT what production sees)';
}

/** The clients' pauses from the fence to their first write on the new primary, and the switch's phases. */
function fillClientPause(report: RehearsalReport, stats: WriteStats, timeline: SwitchMark[]): void {
  const start = timeline.find((m) => m.phase === 'start')?.at;
  const promoted = timeline.find((m) => m.phase === 'promote')?.at;
  if (start === undefined || promoted === undefined) return;
  const firstAck = stats.firstTargetAckAt ?? promoted;
  const { p50, p99, max, requests } = clientPause(stats, start, firstAck);
  report.writes.clientPauseMs = { p50, p99, max, requests };
  const phases: Record<string, number> = {};
  timeline.slice(1).forEach((m, i) => (phases[m.phase] = (phases[m.phase] ?? 0) + m.at - timeline[i].at));
  if (stats.firstTargetAckAt !== undefined) phases['client-reconnect'] = stats.firstTargetAckAt - promoted;
  report.cutover.phasesMs = phases;
}

export function formatReport(r: RehearsalReport): string {
  const lines = [
    `zdm rehearsal: ${r.engine} ${r.serverVersion}, ${(r.dataBytes / 1024 ** 2).toFixed(0)} MB, ${r.machine.cpus} CPUs`,
    `  servers: ${r.durability.label} (${Object.entries(r.durability.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')})`,
    '',
    ...r.steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(15)} ${s.seconds.toFixed(1).padStart(7)} s${s.error ? `  ${s.error}` : ''}`),
    '',
    `  writes acknowledged  ${r.writes.acknowledged} (source ${r.writes.acknowledgedBySource}, new primary ${r.writes.acknowledgedByTarget}), failed attempts ${r.writes.failed} (${r.writes.failedRequests} requests saw an error, each retried)`,
    ...(r.writes.clientPauseMs
      ? [
          `  client pause         p50 ${r.writes.clientPauseMs.p50} ms, p99 ${r.writes.clientPauseMs.p99} ms, max ${r.writes.clientPauseMs.max} ms over the ${r.writes.clientPauseMs.requests} requests waiting during the cutover`,
        ]
      : []),
    ...(r.cutover.phasesMs
      ? [
          `  where it went        ${Object.entries(r.cutover.phasesMs)
            .map(([k, v]) => `${k} ${v} ms`)
            .join(', ')}`,
        ]
      : []),
    `  missing on target    ${r.writes.missingOnTarget ?? 'not checked'}`,
    ...(r.verify
      ? [
          `  verify (${r.verify.mode})${' '.repeat(Math.max(1, 12 - r.verify.mode.length))}${r.verify.ok ? 'passed' : 'FAILED'}: ${r.verify.rowsCompared} rows compared, ${r.verify.mismatches} mismatches${r.verify.mode === 'strict' ? `, writes paused ${r.verify.writesPausedMs} ms for it` : ', under the writes'}`,
        ]
      : []),
    ...(r.sequences
      ? [`  sequences after cutover ${r.sequences.inserted} inserts on the new primary, ${r.sequences.collisions} collided with a used value`]
      : []),
    ...(r.rollback
      ? [
          `  rollback             ${r.rollback.writeBlockedMs ?? '-'} ms write-blocked (${r.rollback.clientWriteBlockedMs ?? '-'} ms seen by the client, fence: ${r.rollback.fence}); new primary acknowledged ${r.rollback.acknowledgedByNewPrimary}, old source after rollback ${r.rollback.acknowledgedByOldSourceAfter}`,
          `  missing on old source ${r.rollback.missingOnOldSource ?? 'not checked'}`,
        ]
      : []),
    ...(r.pooler
      ? [
          r.pooler.kind === 'haproxy'
            ? `  pooler               haproxy (cannot hold requests): ${r.pooler.failedRequests} requests saw an error (${r.pooler.failedAttempts ?? 0} failed attempts, each retried), clients reconnected to the new primary in ${r.pooler.reconnectMs ?? '-'} ms`
            : `  pooler               ${r.pooler.kind}: clients' requests held ${r.pooler.heldMs ?? '-'} ms (PAUSE to RESUME), ${r.pooler.failedRequests} failed requests`,
        ]
      : []),
    `  write-blocked window ${r.cutover.writeBlockedMs ?? '-'} ms measured by cutover, ${r.cutover.clientWriteBlockedMs ?? '-'} ms seen by the writing client (fence: ${r.cutover.fence}), source round trips: ${r.cutover.sourceRoundTrips ?? '-'}`,
    ...(r.wan
      ? [
          `  WAN test bed         RTT ${r.wan.rttMs} ms, ${r.wan.bandwidthMbit || 'unshaped'}${r.wan.bandwidthMbit ? ' Mbit/s' : ''}; measured RTT ${r.wan.measured?.rttMs.toFixed(1) ?? '-'} ms, ${r.wan.measured?.mbit.toFixed(0) ?? '-'} Mbit/s; relay late by at most ${r.wan.relay?.maxLateMs.toFixed(0) ?? '-'} ms (mean ${r.wan.relay?.meanLateMs.toFixed(2) ?? '-'} ms)`,
          ...(r.wan.seed
            ? [
                `  seed over the link   ${(r.wan.seed.bytes / 1024 ** 2).toFixed(1)} MB from the source in ${r.wan.seed.seconds.toFixed(1)} s (the whole step): ${r.wan.seed.mbit.toFixed(0)} Mbit/s${r.wan.bandwidthMbit ? `, ${((100 * r.wan.seed.mbit) / r.wan.bandwidthMbit).toFixed(0)}% of the link` : ''}`,
              ]
            : []),
        ]
      : []),
    '',
    r.ok
      ? r.rollback
        ? 'OK: rolled back; every acknowledged write, including those of the new primary, is on the old source.'
        : 'OK: every acknowledged write is on the new primary.'
      : `NOT OK${r.error ? `: ${r.error}` : ''}`,
    ...(r.audit ? ['', `audit record: ${r.audit.path}`, '', r.audit.markdown.trimEnd()] : []),
  ];
  return lines.join('\n');
}
