/**
 * `npx tsx bench/logical-seed.ts [--size-mb 1024]`: the seed time of one MariaDB database of the
 * given size, three ways, each on a fresh pair of durable sandbox servers: seed-replica with
 * method logical (mydumper/myloader), seed-replica with method physical (mariadb-backup), and a
 * plain `mariadb-dump --single-transaction | mariadb` by hand. Prints the figures and replaces the
 * `logical-seed` section of bench/results.json, keeping the others.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { TextLog } from '../src/log.js';
import { MariadbFixture } from '../src/rehearse/mariadb.js';
import { runStep } from '../src/run-step.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SIZE_MB = arg('size-mb', 1024);
const quiet = new TextLog(() => undefined);

interface Figure {
  section: string;
  name: string;
  value: number;
  unit: string;
  durability: string;
  detail?: string;
}

/** A fresh pair with SIZE_MB of sample rows on the source: [fixture, bytes of data and indexes]. */
async function freshPair(): Promise<[MariadbFixture, number]> {
  const fx = await MariadbFixture.start();
  const bytes = await fx.loadSampleData(SIZE_MB);
  return [fx, bytes];
}

async function seedWith(method: 'logical' | 'physical'): Promise<{ seconds: number; bytes: number }> {
  const [fx, bytes] = await freshPair();
  try {
    const inputs = { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'], method, 'logical-max-size': '100GB' };
    const t0 = performance.now();
    await runStep('seed-replica', (n) => inputs[n as keyof typeof inputs], quiet);
    return { seconds: (performance.now() - t0) / 1000, bytes };
  } finally {
    await fx.destroy();
  }
}

/** mariadb-dump piped into mariadb, as a runbook would do it (credentials in option files). */
async function plainDump(): Promise<{ seconds: number; bytes: number }> {
  const [fx, bytes] = await freshPair();
  const dir = mkdtempSync(path.join(tmpdir(), 'zdm-bench-dump-'));
  try {
    const cnf = (file: string, pw: string) => writeFileSync(path.join(dir, file), `[client]\nuser=root\npassword=${pw}\n`, { mode: 0o600 });
    cnf('src.cnf', fx.source.password);
    cnf('tgt.cnf', fx.target.password);
    const script = `set -o pipefail; mariadb-dump --defaults-extra-file=${dir}/src.cnf -h127.0.0.1 -P${fx.source.port} --single-transaction --master-data=2 --gtid --databases appdb | mariadb --defaults-extra-file=${dir}/tgt.cnf -h127.0.0.1 -P${fx.target.port}`;
    const t0 = performance.now();
    execFileSync('/bin/bash', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    return { seconds: (performance.now() - t0) / 1000, bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await fx.destroy();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = loadavg()[0];
  const durability = 'durable (sync_binlog=1, innodb_flush_log_at_trx_commit=1 on both servers)';
  const figures: Figure[] = [];
  const ways: [string, () => Promise<{ seconds: number; bytes: number }>, string][] = [
    ['mydumper/myloader (seed-replica method: logical)', () => seedWith('logical'), 'with preflight, accounts copy and replication start'],
    ['mariadb-backup (seed-replica method: physical)', () => seedWith('physical'), 'with preflight, target stop/start and replication start'],
    ['plain mariadb-dump | mariadb (by hand)', plainDump, 'the dump and load only, one thread'],
  ];
  for (const [name, how, detail] of ways) {
    const r = await how();
    const rate = r.bytes / r.seconds / 1024 / 1024;
    const line = `${name}: ${r.seconds.toFixed(1)} s for ${(r.bytes / 1024 / 1024).toFixed(0)} MB of data and indexes (${rate.toFixed(1)} MB/s)`;
    process.stdout.write(line + '\n');
    figures.push({
      section: 'logical-seed',
      name: `mariadb: seed ${SIZE_MB} MB, ${name}`,
      value: Number(r.seconds.toFixed(1)),
      unit: 's',
      durability,
      detail: `${detail}; ${rate.toFixed(1)} MB/s`,
    });
  }
  const file = 'bench/results.json';
  const results = JSON.parse(readFileSync(file, 'utf8')) as { figures: { section: string }[]; logicalSeed?: unknown };
  results.figures = [...results.figures.filter((f) => f.section !== 'logical-seed'), ...figures];
  results.logicalSeed = {
    at: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    sizeMb: SIZE_MB,
    loadAverage: { start: Number(loadStart.toFixed(1)), end: Number(loadavg()[0].toFixed(1)) },
    note: 'machine shared with other engineers running tests: 2 CPUs, loaded',
  };
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(
    `written to ${file} (${((Date.now() - started) / 1000).toFixed(0)} s in all, load average ${loadStart.toFixed(1)} -> ${loadavg()[0].toFixed(1)})\n`,
  );
}

await main();
