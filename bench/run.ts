/**
 * zdm's benchmarks: `npm run bench` prints a table and writes bench/results.json. Every figure is
 * measured in this run, side by side with what it is compared to, on this machine; a figure that
 * misses its target is reported as it is.
 *
 *   npm run bench -- [--trials 20] [--seed-mb 256] [--big-mb 1024] [--only cutover,pooler,seed,dump,catchup,lag,startup] [--no-fsync]
 *     [--cutovers mariadb-read-only,postgres-shutdown,postgres-read-only]   (which cutovers the cutover section runs)
 *
 * Servers run with production durability (PostgreSQL fsync, synchronous_commit and
 * full_page_writes on; MariaDB sync_binlog=1 and innodb_flush_log_at_trx_commit=1) unless
 * --no-fsync is given; every figure measured on servers records which, in its `durability`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql from 'mysql2/promise';
import { openEngine } from '../src/engines/index.js';
import type { StepContext } from '../src/engines/engine.js';
import { withDirectEndpoints } from '../src/hosts/endpoint.js';
import { LocalHost } from '../src/hosts/local.js';
import { readInputs, type StepName } from '../src/inputs.js';
import { TextLog } from '../src/log.js';
import { runStep } from '../src/run-step.js';
import type { RehearsalFixture } from '../src/rehearse/fixture.js';
import { MariadbFixture } from '../src/rehearse/mariadb.js';
import { PostgresFixture } from '../src/rehearse/postgres.js';
import { clientPause, percentile, WriteLoad } from '../src/rehearse/writer.js';
import type { SwitchMark } from '../src/engines/engine.js';
import { withinBounds, watchLag } from '../src/lag/watch.js';
import { PausableProxy } from '../test/harness/proxy.js';
import { poolerCutovers } from './pooler.js';

interface Figure {
  section: string;
  name: string;
  value: number | string;
  unit: string;
  target?: string;
  met?: boolean;
  detail?: string;
  /** The servers' durability when measured: "durable" or "fsync=off" (none: no server involved). */
  durability?: string;
}

const figures: Figure[] = [];
const quiet = new TextLog(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const TRIALS = Number(arg('trials', '20'));
const SEED_MB = Number(arg('seed-mb', '256'));
const BIG_MB = Number(arg('big-mb', '1024'));
const ALL_SECTIONS = ['startup', 'lag', 'catchup', 'seed', 'cutover', 'pooler', 'dump'];
const ONLY = arg('only', ALL_SECTIONS.join(',')).split(',');
const DURABLE = !process.argv.includes('--no-fsync');
const ALL_CUTOVERS: ['mariadb' | 'postgres', string, number][] = [
  ['mariadb', 'read-only', 100],
  ['postgres', 'shutdown', 250],
  ['postgres', 'read-only', 250],
];
const CUTOVER_NAMES = arg('cutovers', ALL_CUTOVERS.map(([e, f]) => `${e}-${f}`).join(',')).split(',');
const CUTOVERS = ALL_CUTOVERS.filter(([e, f]) => CUTOVER_NAMES.includes(`${e}-${f}`));
const DURABILITY = DURABLE
  ? 'durable (postgres fsync, synchronous_commit, full_page_writes on; mariadb sync_binlog=1, innodb_flush_log_at_trx_commit=1)'
  : 'fsync=off (postgres fsync off; mariadb sync_binlog=0, innodb_flush_log_at_trx_commit=2)';

function add(f: Figure): void {
  if (f.section !== 'startup') f.durability ??= DURABLE ? 'durable' : 'fsync=off';
  figures.push(f);
  const t = f.target ? `  (target ${f.target}: ${f.met ? 'met' : 'MISSED'})` : '';
  console.log(`  ${f.section.padEnd(9)} ${f.name.padEnd(58)} ${String(f.value).padStart(10)} ${f.unit}${t}${f.detail ? `  - ${f.detail}` : ''}`);
}

const pct = percentile;

const startFixture = (engine: 'postgres' | 'mariadb'): Promise<RehearsalFixture> =>
  engine === 'postgres' ? PostgresFixture.start({ durable: DURABLE }) : MariadbFixture.start({ durable: DURABLE });

async function steps(fx: RehearsalFixture, fence: string, over: Partial<Record<StepName, Record<string, string>>> = {}) {
  const inputs = fx.stepInputs({ fence, targetMemory: '1GB' });
  const out: Record<string, Record<string, string>> = {};
  const timing: Record<string, number> = {};
  let timeline: SwitchMark[] = [];
  for (const step of ['tune-target', 'seed-replica', 'await-lag-zero', 'cutover'] as const) {
    const raw: Record<string, string> = { ...inputs[step], ...(over[step] ?? {}), 'settle-seconds': '1' };
    if (step === 'seed-replica' || step === 'cutover') raw.tuning = out['tune-target'].tuning;
    const t0 = performance.now();
    const result = await runStep(step, (n) => raw[n], quiet);
    out[step] = result.outputs;
    timeline = result.timeline ?? timeline;
    timing[step] = performance.now() - t0;
  }
  return { out, timing, timeline };
}

/** Each phase of the switch and how long it took (ms), in order: from one marked moment to the next. */
function breakdown(timeline: SwitchMark[]): [string, number][] {
  return timeline.slice(1).map((m, i) => [m.phase, m.at - timeline[i].at]);
}

/**
 * N cutovers under 300 writes/s: the write-blocked window measured by cutover (fence to
 * promotion), what the writing clients saw (each request's wait from when it was due, failed
 * attempts), and where the time went (the switch's phases, then the clients' reconnect).
 */
async function cutoverWindows(engine: 'postgres' | 'mariadb', fence: string, target: number): Promise<void> {
  const client: number[] = [];
  const measured: number[] = [];
  const pauseMax: number[] = [];
  const pauseP99: number[] = [];
  const phases = new Map<string, number[]>();
  let failed = 0;
  let lost = 0;
  for (let i = 0; i < TRIALS; i++) {
    const fx = await startFixture(engine);
    try {
      await fx.loadSampleData(4);
      const load = new WriteLoad(fx.writeTargets(), 300);
      load.start();
      const { out, timeline } = await steps(fx, fence);
      await sleep(500);
      const stats = await load.stop();
      lost += (await fx.missingOnTarget(stats.ackedSeqs)).length;
      if (stats.clientBlockedMs !== undefined) client.push(stats.clientBlockedMs);
      measured.push(Number(out.cutover['write-blocked-ms']));
      const start = timeline.find((m) => m.phase === 'start')?.at ?? 0;
      const promoted = timeline.find((m) => m.phase === 'promote')?.at ?? 0;
      const firstAck = stats.firstTargetAckAt ?? promoted;
      // The switch as the clients lived it: from the fence to their first write on the new primary.
      const pause = clientPause(stats, start, firstAck);
      pauseMax.push(pause.max);
      pauseP99.push(pause.p99);
      failed += pause.failed;
      for (const [phase, ms] of [...breakdown(timeline), ['client-reconnect', firstAck - promoted] as [string, number]])
        phases.set(phase, [...(phases.get(phase) ?? []), ms]);
    } finally {
      await fx.destroy();
    }
  }
  const label = `${engine} ${fence}`;
  const n = measured.length;
  for (const p of [50, 99])
    add({
      section: 'cutover',
      name: `${label}: write-blocked p${p} (measured by cutover, ${n} cutovers)`,
      value: pct(measured, p),
      unit: 'ms',
      ...(p === 99 ? { target: `<= ${target} ms`, met: pct(measured, 99) <= target } : {}),
    });
  add({ section: 'cutover', name: `${label}: write-blocked max (measured by cutover)`, value: Math.max(...measured), unit: 'ms' });
  add({
    section: 'cutover',
    name: `${label}: longest pause of one request, p50 / p99 / max over ${n} cutovers`,
    value: `${pct(pauseMax, 50)} / ${pct(pauseMax, 99)} / ${Math.max(...pauseMax)}`,
    unit: 'ms',
    detail: `per cutover, p99 over the requests waiting in the switch: median ${pct(pauseP99, 50)} ms; last source ack to first target ack: p50 ${pct(client, 50)} ms, p99 ${pct(client, 99)} ms`,
  });
  add({ section: 'cutover', name: `${label}: failed requests (attempts retried) during the switch`, value: failed, unit: `in ${n} cutovers` });
  for (const [phase, ms] of phases)
    add({
      section: 'cutover',
      name: `${label}: breakdown ${phase}`,
      value: pct(ms, 50),
      unit: 'ms p50',
      detail: `p99 ${pct(ms, 99)} ms, max ${Math.max(...ms)} ms`,
    });
  add({ section: 'cutover', name: `${label}: acknowledged writes lost`, value: lost, unit: 'writes', target: '0', met: lost === 0 });
}

function timeCommand(cmd: string, env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.slice(-500)}`);
  return performance.now() - t0;
}

/** seed-replica against the same tool pipeline run by hand on the same data: medians of SEED_ROUNDS, taken in turn. */
const SEED_ROUNDS = 3;

async function seedOverhead(engine: 'postgres' | 'mariadb'): Promise<void> {
  const fx = await startFixture(engine);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-bench-seed-'));
  try {
    await fx.loadSampleData(SEED_MB);
    const byHand = (round: number): number => {
      const out = `${dir}/copy-${round}`;
      if (fx instanceof PostgresFixture) {
        const p = fx.pair;
        spawnSync('chown', ['postgres', dir]);
        return timeCommand(
          `runuser -u postgres -- env PGPASSWORD=${p.replicationPassword} /usr/lib/postgresql/15/bin/pg_basebackup -h 127.0.0.1 -p ${p.source.port} -U ${p.replicationUser} -D ${out} --wal-method=stream --checkpoint=fast`,
        );
      }
      const m = fx as MariadbFixture;
      return timeCommand(
        `mkdir -p ${out} && mariadb-backup --no-defaults --backup --stream=xbstream --host=127.0.0.1 --port=${m.source.port} --user=root --password=${m.source.password} --datadir=${m.source.dataDir} --target-dir=${dir}/tmp-${round} --parallel=2 2>/dev/null | mbstream -x -C ${out} && mariadb-backup --prepare --target-dir=${out} 2>/dev/null`,
      );
    };
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const hands: number[] = [];
    const restarts: number[] = [];
    const zdms: number[] = [];
    for (let round = 0; round < SEED_ROUNDS; round++) {
      hands.push(byHand(round));
      rmSync(`${dir}/copy-${round}`, { recursive: true, force: true });
      // A physical seed must stop the target server and start it again: time that by hand too.
      restarts.push(timeCommand(inputs['seed-replica']['target-stop-command']) + timeCommand(inputs['seed-replica']['target-start-command']));
      // From the second round the target is a working replica: copying over it needs reseed.
      const raw: Record<string, string> = { ...inputs['seed-replica'], reseed: round > 0 ? 'true' : 'false' };
      const t0 = performance.now();
      await runStep('seed-replica', (n) => raw[n], quiet);
      zdms.push(performance.now() - t0);
    }
    const hand = pct(hands, 50);
    const restart = pct(restarts, 50);
    const zdm = pct(zdms, 50);
    const ratio = zdm / (hand + restart);
    add({
      section: 'seed',
      name: `${engine}: seed-replica vs the same procedure by hand (${SEED_MB} MB, median of ${SEED_ROUNDS})`,
      value: ratio.toFixed(2),
      unit: 'x',
      target: '<= 1.05x',
      met: ratio <= 1.05,
      detail: `zdm ${(zdm / 1000).toFixed(1)} s (with preflight and replication start); by hand ${((hand + restart) / 1000).toFixed(1)} s = pipeline ${(hand / 1000).toFixed(1)} s + target stop and start ${(restart / 1000).toFixed(1)} s`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await fx.destroy();
  }
}

/** Physical seed against dump and restore of the same data into the same kind of server. */
async function physicalVsDump(engine: 'postgres' | 'mariadb'): Promise<void> {
  const fx = await startFixture(engine);
  const other = await startFixture(engine);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-bench-dump-'));
  try {
    await fx.loadSampleData(BIG_MB);
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const t0 = performance.now();
    await runStep('seed-replica', (n) => inputs['seed-replica'][n], quiet);
    const physical = performance.now() - t0;
    let dump: number;
    if (fx instanceof PostgresFixture) {
      const s = fx.pair.source;
      const t = (other as PostgresFixture).pair.target;
      await t.query('CREATE DATABASE appdb');
      dump = timeCommand(`pg_dump '${s.url({ database: 'appdb' })}' | psql -q '${t.url({ database: 'appdb' })}' >/dev/null`);
    } else {
      const s = (fx as MariadbFixture).source;
      const t = (other as MariadbFixture).target;
      await t.query('CREATE DATABASE appdb');
      dump = timeCommand(
        `mariadb-dump --no-defaults -h127.0.0.1 -P${s.port} -uroot -p${s.password} --single-transaction appdb | mariadb --no-defaults -h127.0.0.1 -P${t.port} -uroot -p${t.password} appdb`,
      );
    }
    const ratio = dump / physical;
    add({
      section: 'dump',
      name: `${engine}: physical seed vs dump and restore (${BIG_MB} MB)`,
      value: ratio.toFixed(1),
      unit: 'x faster',
      target: '>= 4x',
      met: ratio >= 4,
      detail: `seed-replica ${(physical / 1000).toFixed(1)} s, dump+restore ${(dump / 1000).toFixed(1)} s`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([fx.destroy(), other.destroy()]);
  }
}

/** The replica's apply rate for the same backlog, with tune-target's profile and without. */
async function catchUp(): Promise<void> {
  const fx = (await startFixture('mariadb')) as MariadbFixture;
  try {
    await fx.loadSampleData(4);
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    await runStep('seed-replica', (n) => inputs['seed-replica'][n], quiet);
    const awaitRaw: Record<string, string> = { ...inputs['await-lag-zero'], 'settle-seconds': '1' };
    await runStep('await-lag-zero', (n) => awaitRaw[n], quiet);
    const app = await mysql.createConnection({ uri: fx.appUrl(fx.source) });
    const N = 20_000;
    let seq = 10_000_000;
    const rate = async (): Promise<number> => {
      await fx.target.query('STOP REPLICA SQL_THREAD');
      for (let i = 0; i < N; i++) await app.query('INSERT INTO writes (client_seq, payload) VALUES (?, ?)', [++seq, 'backlog']);
      const [{ g }] = await fx.source.query<{ g: string }>('SELECT @@gtid_binlog_pos AS g');
      const t0 = performance.now();
      await fx.target.query('START REPLICA SQL_THREAD');
      const [{ r }] = await fx.target.query<{ r: number }>('SELECT MASTER_GTID_WAIT(?, 600) AS r', [g]);
      if (Number(r) !== 0) throw new Error('the replica did not apply the backlog');
      return N / ((performance.now() - t0) / 1000);
    };
    await fx.target.query('SET GLOBAL innodb_flush_log_at_trx_commit = 1');
    await fx.target.query('SET GLOBAL sync_binlog = 1');
    const untouched = await rate();
    await fx.target.query('SET GLOBAL innodb_flush_log_at_trx_commit = 2');
    await fx.target.query('SET GLOBAL sync_binlog = 0');
    const tuned = await rate();
    await app.end();
    add({
      section: 'catchup',
      name: `mariadb: apply rate with tune-target's profile vs untouched (${N} commits)`,
      value: (tuned / untouched).toFixed(2),
      unit: 'x',
      target: '>= 2x',
      met: tuned / untouched >= 2,
      detail: `${Math.round(tuned)} vs ${Math.round(untouched)} commits/s`,
    });
  } finally {
    await fx.destroy();
  }
}

/** A stalled network at lag near zero: does the server's own lag figure claim catch-up? Does zdm? */
async function lagTruth(engine: 'postgres' | 'mariadb', trials: number): Promise<void> {
  const fx = await startFixture(engine);
  const sourcePort = fx instanceof PostgresFixture ? fx.pair.source.port : (fx as MariadbFixture).source.port;
  const proxy = new PausableProxy({ host: '127.0.0.1', port: sourcePort });
  await proxy.start();
  try {
    await fx.loadSampleData(2);
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    await runStep('seed-replica', (n) => ({ ...inputs['seed-replica'], 'source-replication-address': `127.0.0.1:${proxy.port}` })[n], quiet);
    const raw: Record<string, string> = { ...inputs['await-lag-zero'], 'settle-seconds': '0' };
    const ctx: StepContext = withDirectEndpoints({
      inputs: readInputs('await-lag-zero', (n) => raw[n]),
      log: quiet,
      targetHost: new LocalHost(),
      sourceHost: new LocalHost(),
      runnerHost: new LocalHost(),
    });
    const engineApi = openEngine(ctx);
    const hb = await engineApi.replication.startHeartbeat();
    await watchLag(engineApi, ctx);
    let naiveLies = 0;
    let zdmLies = 0;
    const delays: number[] = [];
    const [writer] = fx.writeTargets();
    const conn = await writer.connect();
    let seq = 50_000_000;
    try {
      for (let t = 0; t < trials; t++) {
        proxy.pause();
        for (let i = 0; i < 20; i++) await conn.write(++seq);
        await sleep(2000);
        if (await naiveSaysCaughtUp(fx)) naiveLies++;
        if (withinBounds(await engineApi.replication.measureLag(), ctx.inputs)) zdmLies++;
        proxy.resume();
        // The true moment of catch-up, polled every 20 ms, against zdm's own verdict (settle 0).
        const truth = pollTrueCatchUp(fx, seq);
        const zdm = watchLag(engineApi, ctx).then(() => performance.now());
        const [tTrue, tZdm] = await Promise.all([truth, zdm]);
        delays.push(Math.max(0, tZdm - tTrue));
      }
    } finally {
      await conn.close();
      await hb.stop();
      await engineApi.close();
    }
    const naive = engine === 'postgres' ? 'pg_stat_replication.replay_lag' : 'Seconds_Behind_Master';
    add({ section: 'lag', name: `${engine}: stalled at lag near zero: ${naive} claims caught up`, value: `${naiveLies}/${trials}`, unit: 'trials' });
    add({
      section: 'lag',
      name: `${engine}: stalled at lag near zero: zdm claims caught up`,
      value: `${zdmLies}/${trials}`,
      unit: 'trials',
      target: 'never',
      met: zdmLies === 0,
    });
    add({
      section: 'lag',
      name: `${engine}: zdm's detection delay after a real catch-up (max of ${trials})`,
      value: Math.round(Math.max(...delays)),
      unit: 'ms',
      target: '<= 1000 ms',
      met: Math.max(...delays) <= 1000,
    });
  } finally {
    await proxy.stop();
    await fx.destroy();
  }
}

async function naiveSaysCaughtUp(fx: RehearsalFixture): Promise<boolean> {
  if (fx instanceof PostgresFixture) {
    const [r] = await fx.pair.source.query<{ lag: number | null }>(
      "SELECT EXTRACT(EPOCH FROM replay_lag)::float8 AS lag FROM pg_stat_replication WHERE application_name = 'zdm_target'",
    );
    return !r || r.lag === null || Number(r.lag) < 1;
  }
  const [st] = await (fx as MariadbFixture).target.query<Record<string, unknown>>('SHOW REPLICA STATUS');
  return st?.Seconds_Behind_Master !== null && Number(st?.Seconds_Behind_Master) === 0;
}

async function pollTrueCatchUp(fx: RehearsalFixture, lastSeq: number): Promise<number> {
  for (;;) {
    if ((await fx.missingOnTarget([lastSeq])).length === 0) return performance.now();
    await sleep(20);
  }
}

function startup(): void {
  const run = (args: string[]) => {
    const t: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      spawnSync(process.execPath, args);
      t.push(performance.now() - t0);
    }
    return pct(t, 50);
  };
  const zdm = run(['dist/index.js', '--help']);
  const bare = run(['-e', '0']);
  add({
    section: 'startup',
    name: 'cold start of dist/index.js --help (median of 10)',
    value: Math.round(zdm),
    unit: 'ms',
    target: '<= 300 ms',
    met: zdm <= 300,
    detail: `bare node ${Math.round(bare)} ms (${(zdm / bare).toFixed(1)}x)`,
  });
  add({ section: 'startup', name: 'bundle size (dist/index.js)', value: (statSync('dist/index.js').size / 1024).toFixed(0), unit: 'kB' });
}

/** Runs one section; a failure is reported as a figure, and the other sections still run. */
async function section(name: string, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (e) {
    add({ section: name, name: 'section failed', value: 'error', unit: '', detail: (e as Error).message.split('\n')[0].slice(0, 300) });
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  // The machine is shared: its load during the run is part of what the figures mean.
  const loadAtStart = os.loadavg()[0];
  console.log(
    `zdm bench on ${os.availableParallelism()} CPUs, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB RAM; trials ${TRIALS}, seed ${SEED_MB} MB, dump ${BIG_MB} MB; servers ${DURABILITY}\n`,
  );
  if (ONLY.includes('startup')) await section('startup', startup);
  if (ONLY.includes('lag')) {
    await section('lag', () => lagTruth('mariadb', 5));
    await section('lag', () => lagTruth('postgres', 5));
  }
  if (ONLY.includes('catchup')) await section('catchup', catchUp);
  if (ONLY.includes('seed')) {
    await section('seed', () => seedOverhead('postgres'));
    await section('seed', () => seedOverhead('mariadb'));
  }
  if (ONLY.includes('cutover')) {
    for (const [engine, fence, target] of CUTOVERS) await section('cutover', () => cutoverWindows(engine, fence, target));
  }
  if (ONLY.includes('pooler')) await section('pooler', () => poolerCutovers(TRIALS, add, pct));
  if (ONLY.includes('dump')) {
    await section('dump', () => physicalVsDump('mariadb'));
    await section('dump', () => physicalVsDump('postgres'));
  }
  const results = {
    machine: { cpus: os.availableParallelism(), memoryBytes: os.totalmem(), node: process.version },
    settings: { trials: TRIALS, seedMb: SEED_MB, bigMb: BIG_MB, durability: DURABILITY },
    seconds: (Date.now() - started) / 1000,
    at: new Date().toISOString(),
    loadAverage: { start: Number(loadAtStart.toFixed(1)), end: Number(os.loadavg()[0].toFixed(1)) },
    figures,
  };
  // A run of some sections only replaces those sections' figures in the last full results.
  if ((ONLY.length < ALL_SECTIONS.length || CUTOVERS.length < ALL_CUTOVERS.length) && existsSync('bench/results.json')) {
    const last = JSON.parse(readFileSync('bench/results.json', 'utf8')) as typeof results;
    const order = new Map(ALL_SECTIONS.map((name, i) => [name, i]));
    // With --cutovers, the figures of the cutovers not run stay.
    const rerun = (f: Figure) => ONLY.includes(f.section) && (f.section !== 'cutover' || CUTOVERS.some(([e, fence]) => f.name.startsWith(`${e} ${fence}:`)));
    results.figures = [...last.figures.filter((f) => !rerun(f)), ...figures].sort((a, b) => (order.get(a.section) ?? 99) - (order.get(b.section) ?? 99));
    results.settings = { ...last.settings, durability: DURABILITY };
    // Figures from before durability was recorded were measured on fsync=off PostgreSQL servers.
    for (const f of results.figures) if (f.section !== 'startup') f.durability ??= 'fsync=off (not recorded; measured before durable servers were the default)';
    // The full run's time stays the figure for "npm run bench"; this partial run is noted apart.
    Object.assign(results, {
      seconds: last.seconds,
      at: last.at,
      loadAverage: (last as { loadAverage?: unknown }).loadAverage,
      updated: { sections: ONLY, cutovers: CUTOVERS.map(([e, f]) => `${e}-${f}`), seconds: results.seconds, at: results.at, loadAverage: results.loadAverage },
    });
  }
  writeFileSync('bench/results.json', JSON.stringify(results, null, 2) + '\n');
  console.log(
    `\n${figures.filter((f) => f.met === false).length} of ${figures.filter((f) => f.target).length} targets missed; ${results.seconds.toFixed(0)} s; written to bench/results.json`,
  );
}

await main();
