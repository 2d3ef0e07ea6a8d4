/**
 * zdm across a WAN: the cutover's write-blocked window, the round trips to the source inside it
 * and the longest client pause at several round-trip times, and the physical seed's rate against
 * the link, with the source behind the WAN test bed (src/sandbox/wan.ts: a network namespace, tc
 * htb on a veth pair, a delaying relay). PostgreSQL, through PgBouncer, the source reached over
 * SSH, servers with production durability (fsync on), 300 writes/s. Writes bench/wan-results.json.
 *
 *   npx tsx bench/wan.ts [--rtts 0,10,30,60] [--fences shutdown,read-only] [--bandwidth-mbit 100] [--seed-mb 256] [--size-mb 16]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { TextLog } from '../src/log.js';
import { rehearse, type RehearsalOptions, type RehearsalReport } from '../src/rehearse/rehearsal.js';
import { installSignalCleanup } from '../src/sandbox/cleanup.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const rtts = arg('rtts', '0,10,30,60').split(',').map(Number);
const fences = arg('fences', 'shutdown,read-only').split(',').filter(Boolean) as RehearsalOptions['fence'][];
/** How the seed figure is named: the code's seed-compression default decides what it measures. */
const seedLabel = arg('seed-label', 'compressed (seed-compression: auto, zstd level 1 on the source)');
const bandwidthMbit = Number(arg('bandwidth-mbit', '100'));
const seedMb = Number(arg('seed-mb', '256'));
const sizeMb = Number(arg('size-mb', '16'));

interface Figure {
  section: string;
  name: string;
  value: number | string | null;
  unit: string;
  rttMs: number;
  bandwidthMbit: number;
  durability: string;
  target?: string;
  met?: boolean;
  detail?: string;
}

const figures: Figure[] = [];
const quiet = new TextLog(() => undefined);

async function run(opts: Partial<RehearsalOptions>): Promise<RehearsalReport> {
  const r = await rehearse(
    {
      engine: 'postgres',
      sizeMb,
      writesPerSecond: 300,
      fence: 'auto',
      targetMemory: '1GB',
      keep: false,
      ssh: true,
      durable: true,
      pooler: 'pgbouncer',
      bandwidthMbit,
      ...opts,
    },
    quiet,
  );
  if (!r.ok) console.error(`rehearsal failed (${JSON.stringify(opts)}): ${r.error}`);
  return r;
}

installSignalCleanup();
const started = Date.now();
for (const fence of fences)
  for (const rttMs of rtts) {
    const r = await run({ fence, rttMs });
    const base = { rttMs, bandwidthMbit, durability: r.durability.label };
    const w = r.cutover.writeBlockedMs;
    figures.push(
      {
        section: 'wan-cutover',
        name: `postgres ${fence} fence via pgbouncer over SSH: write-blocked window`,
        value: w,
        unit: 'ms',
        target: `<= 3 x RTT + 150 ms (${3 * rttMs + 150} ms)`,
        met: w !== null && w <= 3 * rttMs + 150,
        detail: `phases: ${Object.entries(r.cutover.phasesMs ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; measured RTT ${r.wan?.measured?.rttMs.toFixed(1)} ms; relay late max ${r.wan?.relay?.maxLateMs.toFixed(0)} ms`,
        ...base,
      },
      {
        section: 'wan-cutover',
        name: `postgres ${fence} fence: source round trips inside the window`,
        value: r.cutover.sourceRoundTrips ?? null,
        unit: 'round trips',
        ...base,
      },
      { section: 'wan-cutover', name: `postgres ${fence} fence: longest client pause`, value: r.writes.clientPauseMs?.max ?? null, unit: 'ms', ...base },
      {
        section: 'wan-cutover',
        name: `postgres ${fence} fence: failed requests`,
        value: r.writes.failedRequests,
        unit: 'requests',
        target: '0',
        met: r.writes.failedRequests === 0 && r.writes.missingOnTarget === 0,
        detail: `missing on target ${r.writes.missingOnTarget}`,
        ...base,
      },
    );
    console.log(
      `${fence} RTT ${rttMs} ms: window ${w} ms, round trips ${r.cutover.sourceRoundTrips}, client max ${r.writes.clientPauseMs?.max} ms, failed ${r.writes.failedRequests}`,
    );
  }
if (arg('seed', 'yes') !== 'no') {
  const rttMs = 30;
  const r = await run({ rttMs, sizeMb: seedMb, fence: 'shutdown' });
  const seed = r.wan?.seed;
  const rate = seed ? seed.mbit : null;
  figures.push({
    section: 'wan-seed',
    name: `postgres physical seed of ${(r.dataBytes / 1024 ** 2).toFixed(0)} MB (sample data), ${seedLabel}, source reached over SSH`,
    value: rate === null ? null : Number(rate.toFixed(1)),
    unit: 'Mbit/s',
    rttMs,
    bandwidthMbit,
    durability: r.durability.label,
    target: seedLabel.startsWith('uncompressed') ? '>= 90% of the link for incompressible data' : 'effective >= 2x the link on sample data',
    met: rate !== null && (seedLabel.startsWith('uncompressed') ? rate >= 0.9 * bandwidthMbit : (r.dataBytes * 8) / 1e6 / seed!.seconds >= 2 * bandwidthMbit),
    detail: seed
      ? `effective ${((r.dataBytes * 8) / 1e6 / seed.seconds).toFixed(0)} Mbit/s of database (pg_database_size) per second; ${(seed.bytes / 1024 ** 2).toFixed(0)} MB through the link in ${seed.seconds.toFixed(1)} s (the whole seed-replica step, checks included) = ${((100 * seed.mbit) / bandwidthMbit).toFixed(0)}% of ${bandwidthMbit} Mbit/s; one TCP stream measured ${r.wan?.measured?.mbit.toFixed(0)} Mbit/s on the bed`
      : 'no seed figure',
  });
  console.log(`seed at ${bandwidthMbit} Mbit/s: ${rate?.toFixed(1)} Mbit/s`);
}
// Figures measured in another run (other RTTs, the other seed) stay; the same figure is replaced.
const file = new URL('./wan-results.json', import.meta.url);
const key = (f: Figure) => `${f.section}|${f.name.replace(/ of \d+ MB/, '')}|${f.rttMs}|${f.bandwidthMbit}`;
const before: Figure[] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { figures: Figure[] }).figures : [];
const fresh = new Set(figures.map(key));
figures.unshift(...before.filter((f) => !fresh.has(key(f))));
const out = {
  machine: { cpus: os.availableParallelism(), memoryBytes: os.totalmem(), node: process.version, loadAverage: os.loadavg() },
  settings: { sizeMb, seedMb, bandwidthMbit, writesPerSecond: 300, pooler: 'pgbouncer', transport: 'ssh' },
  seconds: Math.round((Date.now() - started) / 1000),
  at: new Date().toISOString(),
  figures,
};
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.log(`wrote bench/wan-results.json (${figures.length} figures, ${out.seconds} s)`);
