import { describe, expect, it } from 'vitest';
import type { LagSample } from '../../src/engines/engine.js';
import { cpuUse, findBottleneck, parseProcStat, rates } from '../../src/lag/diagnosis.js';
import { diagnose } from '../../src/lag/watch.js';
import { readInputs } from '../../src/inputs.js';

const at = (t: number, source: number, received: number, applied: number, streaming = true): LagSample => ({
  at: t,
  bytes: source - applied,
  seconds: 0.5,
  streaming,
  detail: 'd',
  positions: { source, received, applied },
});
const MB = 1024 * 1024;

describe('diagnosis while catching up', () => {
  it('parses the aggregate cpu line of /proc/stat and turns two readings into shares', () => {
    const a = parseProcStat('cpu  100 0 100 700 50 0 0 50 0 0\ncpu0 1 2 3 4\n', 0)!;
    const b = parseProcStat('cpu  200 0 100 800 250 0 0 150 0 0\n', 1000)!;
    expect(a.total).toBe(1000);
    const u = cpuUse(a, b)!;
    expect(u.iowaitPct).toBeCloseTo(40);
    expect(u.stealPct).toBeCloseTo(20);
    expect(u.busyPct).toBeCloseTo(40); // user 100 + steal 100 of 500
    expect(parseProcStat('intr 1 2 3')).toBeUndefined();
  });

  it('measures the rates of the source, the stream and the apply, and skips readings on two scales', () => {
    const r = rates([at(0, 0, 0, 0), at(10_000, 100 * MB, 80 * MB, 50 * MB)])!;
    expect(r.source).toBe(10 * MB);
    expect(r.received).toBe(8 * MB);
    expect(r.applied).toBe(5 * MB);
    expect(rates([at(0, 100, 100, 100), at(1000, 50, 50, 50)])).toBeUndefined();
  });

  it('names the network when most of the backlog has not reached the target', () => {
    const h = [at(0, 0, 0, 0), at(10_000, 100 * MB, 10 * MB, 9 * MB)];
    expect(findBottleneck(h[1], rates(h), undefined, 'mariadb')).toMatch(/^the network between source and target: 90\.0 MB/);
  });

  it('names the disk, CPU steal, the CPU, or the single applier when the backlog is received but not applied', () => {
    const h = [at(0, 0, 0, 0), at(10_000, 100 * MB, 100 * MB, 40 * MB)];
    const r = rates(h);
    expect(findBottleneck(h[1], r, { iowaitPct: 35, stealPct: 0, busyPct: 30 }, 'postgres')).toMatch(/^the target's disk: .*iowait at 35%/);
    expect(findBottleneck(h[1], r, { iowaitPct: 2, stealPct: 25, busyPct: 60 }, 'postgres')).toMatch(/CPU steal at 25%/);
    expect(findBottleneck(h[1], r, { iowaitPct: 2, stealPct: 0, busyPct: 97 }, 'postgres')).toMatch(/^the target's CPU: .*97% busy/);
    expect(findBottleneck(h[1], r, { iowaitPct: 2, stealPct: 0, busyPct: 20 }, 'mariadb')).toMatch(/slave_parallel_threads/);
    expect(findBottleneck(h[1], r, { iowaitPct: 2, stealPct: 0, busyPct: 20 }, 'postgres')).toMatch(/single-threaded/);
  });

  it('says the apply has stopped when nothing was applied over the window', () => {
    const h = [at(0, 10 * MB, 10 * MB, 1 * MB), at(10_000, 20 * MB, 20 * MB, 1 * MB)];
    expect(findBottleneck(h[1], rates(h), undefined, 'postgres')).toMatch(/^the replica's apply, which has stopped: .*pg_is_wal_replay_paused/);
    // The same stall on MySQL/MariaDB points at the engine's own status, never at a PostgreSQL function.
    const my = findBottleneck(h[1], rates(h), undefined, 'mariadb');
    expect(my).toMatch(/^the replica's apply, which has stopped: .*SHOW REPLICA STATUS/);
    expect(my).not.toMatch(/pg_|PostgreSQL/);
  });

  it('puts the rates and the bottleneck into the timeout diagnosis', () => {
    const inputs = readInputs('await-lag-zero', (n) => ({ 'source-url': 'mysql://a:b@h/db', 'target-url': 'mysql://a:b@t/db' })[n]);
    const text = diagnose([at(0, 0, 0, 0), at(10_000, 100 * MB, 10 * MB, 9 * MB)], inputs, { iowaitPct: 1, stealPct: 0, busyPct: 5 });
    expect(text).toMatch(/measured over the last minute: source writes 10\.0 MB\/s, stream 1\.0 MB\/s, apply 921\.6 kB\/s; target iowait 1%/);
    expect(text).toMatch(/bottleneck: the network between source and target/);
  });
});
