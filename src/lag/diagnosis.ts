/**
 * Why the target is not catching up: rates of the source's writes, of the stream and of the
 * replica's apply (from the engines' byte positions), and the target host's iowait, CPU steal and
 * CPU use (from /proc/stat). `findBottleneck` names the resource that limits catch-up.
 */
import type { Host } from '../hosts/host.js';
import type { LagSample } from '../engines/engine.js';
import { formatBytes } from '../log.js';

/** Cumulative CPU time counters of one /proc/stat "cpu" line (USER_HZ ticks). */
export interface CpuTimes {
  at: number;
  idle: number;
  iowait: number;
  steal: number;
  total: number;
}

/** Parses the aggregate "cpu" line of /proc/stat. */
export function parseProcStat(text: string, at = Date.now()): CpuTimes | undefined {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  if (v.length < 4 || v.some((n) => !Number.isFinite(n))) return undefined;
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { at, idle, iowait, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** Shares of CPU time between two readings, in percent. */
export interface CpuUse {
  iowaitPct: number;
  stealPct: number;
  busyPct: number;
}

export function cpuUse(a: CpuTimes, b: CpuTimes): CpuUse | undefined {
  const total = b.total - a.total;
  if (total <= 0) return undefined;
  const pct = (x: number) => Math.max(0, Math.min(100, (100 * x) / total));
  return {
    iowaitPct: pct(b.iowait - a.iowait),
    stealPct: pct(b.steal - a.steal),
    busyPct: pct(total - (b.idle - a.idle) - (b.iowait - a.iowait)),
  };
}

/** Samples the target host's /proc/stat; readings that fail (no /proc, no permission) are skipped. */
export class CpuSampler {
  private readonly samples: CpuTimes[] = [];
  private failed = false;
  constructor(private readonly host: Host) {}

  async sample(): Promise<void> {
    if (this.failed) return;
    const text = await this.host.readFile('/proc/stat').catch(() => undefined);
    const t = text === undefined ? undefined : parseProcStat(text);
    if (!t) {
      this.failed = true;
      return;
    }
    this.samples.push(t);
    if (this.samples.length > 240) this.samples.splice(0, this.samples.length - 240);
  }

  /** CPU use over about the last `windowMs`. */
  recent(windowMs = 10_000): CpuUse | undefined {
    const last = this.samples[this.samples.length - 1];
    if (!last) return undefined;
    const first = this.samples.find((s) => s.at >= last.at - windowMs);
    return first && first !== last ? cpuUse(first, last) : undefined;
  }
}

/** Bytes per second at which the source writes, the target receives and the target applies. */
export interface Rates {
  source: number;
  received: number;
  applied: number;
  seconds: number;
}

export function rates(history: LagSample[], windowMs = 10_000): Rates | undefined {
  const withPos = history.filter((h) => h.positions);
  const last = withPos[withPos.length - 1];
  const first = withPos.find((h) => h.at >= (last?.at ?? 0) - windowMs);
  if (!last || !first || first === last || last.at <= first.at) return undefined;
  const seconds = (last.at - first.at) / 1000;
  const a = first.positions!;
  const b = last.positions!;
  // An offset that went back (the source purged its oldest binlog) puts the two readings on different scales.
  if (b.source < a.source || b.received < a.received || b.applied < a.applied) return undefined;
  return { source: (b.source - a.source) / seconds, received: (b.received - a.received) / seconds, applied: (b.applied - a.applied) / seconds, seconds };
}

export function describeRates(r: Rates | undefined, cpu: CpuUse | undefined): string {
  const parts: string[] = [];
  if (r) parts.push(`source writes ${formatBytes(r.source)}/s, stream ${formatBytes(r.received)}/s, apply ${formatBytes(r.applied)}/s`);
  if (cpu) parts.push(`target iowait ${cpu.iowaitPct.toFixed(0)}%, steal ${cpu.stealPct.toFixed(0)}%, CPU ${cpu.busyPct.toFixed(0)}%`);
  return parts.join('; ');
}

export const IOWAIT_BOTTLENECK_PCT = 20;
export const STEAL_BOTTLENECK_PCT = 10;
export const CPU_BOTTLENECK_PCT = 85;

/**
 * The resource that keeps lag from closing, judged from the last sample's backlog split (not yet
 * received vs received but not applied) and the target's CPU shares. Undefined when nothing
 * points anywhere (too few samples).
 */
export function findBottleneck(last: LagSample, r: Rates | undefined, cpu: CpuUse | undefined, engine: string): string | undefined {
  if (!last.streaming) return 'the connection: the target is not streaming from the source';
  const p = last.positions;
  if (!p) return undefined;
  const notReceived = Math.max(0, p.source - p.received);
  const notApplied = Math.max(0, p.received - p.applied);
  if (notReceived > notApplied) {
    const speed = r ? ` (the stream carries ${formatBytes(r.received)}/s while the source writes ${formatBytes(r.source)}/s)` : '';
    return `the network between source and target: ${formatBytes(notReceived)} written on the source has not reached the target yet${speed}. Check the bandwidth and round trip between the hosts, the TCP buffers (tune-target's kernel settings) and, through SSH, the tunnel's cipher`;
  }
  if (r && r.applied <= 0 && notApplied > 0) {
    // Each engine's own way to see a stalled apply: a MySQL user is never sent to a PostgreSQL function.
    const paused =
      engine === 'postgres' ? 'Replay may be paused (SELECT pg_is_wal_replay_paused())' : 'The SQL thread may be delayed (SQL_Delay in SHOW REPLICA STATUS)';
    return `the replica's apply, which has stopped: ${formatBytes(notApplied)} received and nothing applied for ${r.seconds.toFixed(0)} s. ${paused} or blocked by a lock or long transaction on the target`;
  }
  const behind = `${formatBytes(notApplied)} received but not applied yet${r ? ` (apply ${formatBytes(r.applied)}/s vs source ${formatBytes(r.source)}/s)` : ''}`;
  if (cpu && cpu.iowaitPct >= IOWAIT_BOTTLENECK_PCT)
    return `the target's disk: ${behind}, with iowait at ${cpu.iowaitPct.toFixed(0)}%. Use a faster disk (NVMe, provisioned IOPS), or relax durability while catching up (tune-target)`;
  if (cpu && cpu.stealPct >= STEAL_BOTTLENECK_PCT)
    return `the target's CPU is being taken by other guests: ${behind}, with CPU steal at ${cpu.stealPct.toFixed(0)}%. Move the target to a dedicated or larger instance`;
  if (cpu && cpu.busyPct >= CPU_BOTTLENECK_PCT)
    return `the target's CPU: ${behind}, with the CPU ${cpu.busyPct.toFixed(0)}% busy. Give the target more or faster cores, or stop other work on it`;
  const applier =
    engine === 'postgres'
      ? 'WAL replay is single-threaded (the startup process)'
      : 'the replica applies on too few threads: raise slave_parallel_threads (MariaDB) or replica_parallel_workers (MySQL)';
  return `the replica's apply: ${behind} while disk and CPU have room; ${applier}, or wait for a quieter period on the source`;
}
