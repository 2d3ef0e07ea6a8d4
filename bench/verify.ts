/**
 * verify against pt-table-checksum (Debian's percona-toolkit) on the same MariaDB source and
 * replica, and zdm verify on PostgreSQL of the same size: seconds, rows/s, the ratio, and whether
 * each tool finds one row changed on the replica behind replication's back. Writes bench/verify-results.json.
 *
 * Each figure is the median of --trials runs (the machine is shared: single runs vary by 2x).
 *
 *   npx tsx bench/verify.ts [--mb 128] [--trials 3] [--only mariadb,postgres]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import mysql from 'mysql2/promise';
import { describeError } from '../src/errors.js';
import { TextLog } from '../src/log.js';
import { runStep } from '../src/run-step.js';
import { MariadbFixture } from '../src/rehearse/mariadb.js';
import { PostgresFixture } from '../src/rehearse/postgres.js';
import type { RehearsalFixture } from '../src/rehearse/fixture.js';
import { StepFailed } from '../src/steps/step.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const MB = Number(arg('mb', '128'));
const TRIALS = Number(arg('trials', '3'));
const ONLY = arg('only', 'mariadb,postgres').split(',');
const quiet = new TextLog(() => undefined);

interface Figure {
  name: string;
  value: number | string;
  unit: string;
  detail?: string;
}
const figures: Figure[] = [];
function add(f: Figure): void {
  figures.push(f);
  console.log(`  ${f.name.padEnd(64)} ${String(f.value).padStart(10)} ${f.unit}${f.detail ? `  - ${f.detail}` : ''}`);
}

async function prepare(fx: RehearsalFixture): Promise<number> {
  const bytes = await fx.loadSampleData(MB);
  const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
  await runStep('seed-replica', (n) => inputs['seed-replica'][n], quiet);
  await runStep('await-lag-zero', (n) => ({ ...inputs['await-lag-zero'], 'settle-seconds': '1' })[n], quiet);
  return bytes;
}

function median<T extends { seconds: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
}

async function trials<T extends { seconds: number }>(fn: () => Promise<T> | T): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < TRIALS; i++) runs.push(await fn());
  return median(runs);
}

/** Runs zdm verify; returns seconds, rows compared and whether it found a difference. */
async function zdmVerify(raw: Record<string, string>): Promise<{ seconds: number; rows: number; differs: boolean; detail: string }> {
  const t0 = performance.now();
  try {
    const r = await runStep('verify', (n) => raw[n], quiet);
    return { seconds: (performance.now() - t0) / 1000, rows: Number(r.outputs['rows-compared']), differs: false, detail: '' };
  } catch (e) {
    if (!(e instanceof StepFailed)) throw e;
    return {
      seconds: (performance.now() - t0) / 1000,
      rows: Number(e.result.outputs['rows-compared']),
      differs: Number(e.result.outputs.mismatches) > 0,
      detail: describeError(e).split('\n').slice(1, 3).join(' ').trim(),
    };
  }
}

/** pt-table-checksum over the app database; the replica found through a DSN table. */
function ptChecksum(fx: MariadbFixture): { seconds: number; rows: number; diffs: number; out: string } {
  const dsn = `h=127.0.0.1,P=${fx.source.port},u=root,p=${fx.source.password}`;
  const t0 = performance.now();
  const r = spawnSync(
    'pt-table-checksum',
    [
      dsn,
      '--databases',
      'appdb',
      '--recursion-method',
      'dsn=D=percona,t=dsns',
      '--replicate',
      'percona.checksums',
      '--no-version-check',
      '--no-check-binlog-format',
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const seconds = (performance.now() - t0) / 1000;
  const out = (r.stdout + r.stderr).trim();
  // TS ERRORS DIFFS ROWS DIFF_ROWS CHUNKS SKIPPED TIME TABLE
  let rows = 0;
  let diffs = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    if (Number(m[1]) > 0) throw new Error(`pt-table-checksum reported errors: ${out.slice(-800)}`);
    diffs += Number(m[2]);
    rows += Number(m[3]);
  }
  if (rows === 0) throw new Error(`pt-table-checksum checked nothing (exit ${r.status}): ${out.slice(-800)}`);
  return { seconds, rows, diffs, out };
}

async function mariadb(): Promise<void> {
  const fx = await MariadbFixture.start();
  try {
    await prepare(fx);
    await fx.source.query('CREATE DATABASE percona');
    await fx.source.query('CREATE TABLE percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT NULL, dsn VARCHAR(255) NOT NULL)');
    await fx.source.query('INSERT INTO percona.dsns (dsn) VALUES (?)', [`h=127.0.0.1,P=${fx.target.port},u=root,p=${fx.target.password}`]);
    const raw = { engine: 'mariadb', 'source-url': fx.source.url(), 'target-url': fx.target.url(), 'verify-tables': 'appdb.*' };
    // Warm both servers' buffer pools the same way before either tool is timed.
    await zdmVerify(raw);
    const zdm = await trials(() => zdmVerify(raw));
    const zdmBig = await trials(() => zdmVerify({ ...raw, 'chunk-rows': '100000' }));
    const zdmStrict = await trials(() => zdmVerify({ ...raw, 'verify-mode': 'strict' }));
    const pt = await trials(() => ptChecksum(fx));
    const rows = zdm.rows;
    add({
      name: `mariadb: zdm verify online, ${rows} rows (chunk-rows 10000)`,
      value: zdm.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(rows / zdm.seconds)} rows/s`,
    });
    add({
      name: 'mariadb: zdm verify online, chunk-rows 100000',
      value: zdmBig.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(zdmBig.rows / zdmBig.seconds)} rows/s`,
    });
    add({
      name: 'mariadb: zdm verify strict',
      value: zdmStrict.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(zdmStrict.rows / zdmStrict.seconds)} rows/s`,
    });
    add({
      name: `mariadb: pt-table-checksum (defaults, --chunk-time 0.5), ${pt.rows} rows`,
      value: pt.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(pt.rows / pt.seconds)} rows/s`,
    });
    add({ name: 'mariadb: zdm verify online time / pt-table-checksum time', value: (zdm.seconds / pt.seconds).toFixed(2), unit: 'x' });
    add({ name: 'mariadb: zdm verify (chunk-rows 100000) / pt-table-checksum', value: (zdmBig.seconds / pt.seconds).toFixed(2), unit: 'x' });

    // One row changed on the replica behind replication's back: does each tool find it?
    const c = await mysql.createConnection({ uri: fx.target.url() });
    try {
      await c.query('SET SESSION sql_log_bin = 0');
      await c.query("UPDATE appdb.sample SET payload = 'changed behind replication' WHERE id = 12345");
    } finally {
      await c.end();
    }
    const zdmBad = await zdmVerify(raw);
    const ptBad = ptChecksum(fx);
    add({ name: 'mariadb: one row changed on the replica: zdm verify finds it', value: zdmBad.differs ? 'yes' : 'NO', unit: '', detail: zdmBad.detail });
    add({
      name: 'mariadb: one row changed on the replica: pt-table-checksum finds it',
      value: ptBad.diffs > 0 ? 'yes' : 'NO',
      unit: '',
      detail: `DIFFS ${ptBad.diffs} (pt reports the differing chunk; zdm narrows it to the key)`,
    });
  } finally {
    await fx.destroy();
  }
}

async function postgres(): Promise<void> {
  const fx = await PostgresFixture.start();
  try {
    await prepare(fx);
    const raw = { engine: 'postgres', 'source-url': fx.pair.source.url(), 'target-url': fx.pair.target.url(), 'verify-tables': 'appdb.*' };
    await zdmVerify(raw);
    const zdm = await zdmVerify(raw);
    const zdmBig = await zdmVerify({ ...raw, 'chunk-rows': '100000' });
    add({
      name: `postgres: zdm verify online, ${zdm.rows} rows (chunk-rows 10000)`,
      value: zdm.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(zdm.rows / zdm.seconds)} rows/s`,
    });
    add({
      name: 'postgres: zdm verify online, chunk-rows 100000',
      value: zdmBig.seconds.toFixed(2),
      unit: 's',
      detail: `${Math.round(zdmBig.rows / zdmBig.seconds)} rows/s`,
    });
  } finally {
    await fx.destroy();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`zdm verify bench on ${os.availableParallelism()} CPUs; ${MB} MB of sample rows\n`);
  for (const [name, fn] of [
    ['mariadb', mariadb],
    ['postgres', postgres],
  ] as const) {
    if (!ONLY.includes(name)) continue;
    try {
      await fn();
    } catch (e) {
      add({ name: `${name}: section failed`, value: 'error', unit: '', detail: describeError(e).slice(0, 1500) });
    }
  }
  const results = {
    machine: { cpus: os.availableParallelism(), node: process.version },
    mb: MB,
    seconds: (Date.now() - started) / 1000,
    at: new Date().toISOString(),
    figures,
  };
  writeFileSync('bench/verify-results.json', JSON.stringify(results, null, 2) + '\n');
  console.log(`\n${results.seconds.toFixed(0)} s; written to bench/verify-results.json`);
}

await main();
