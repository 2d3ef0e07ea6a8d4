/**
 * The kernel plan: network settings for a replication stream that runs for hours and a
 * reconnect storm at cutover, each with the current value, the value wanted and why. Pure: the
 * values come in as text read from /proc/sys, the plan goes out as data (KernelTuner applies it).
 */

/** One kernel setting of the plan. */
export interface KernelItem {
  /** Dotted sysctl name, e.g. net.core.rmem_max. */
  key: string;
  /** The file's exact text before tune-target (written back byte for byte on revert); null when the kernel has no such setting. */
  original: string | null;
  /** The value tune-target writes (numbers separated by single spaces). */
  value: string;
  reason: string;
  /** Whether the value differs from the original; false: already there or above, nothing to write. */
  change: boolean;
  /** Set once the live value was written: revert restores exactly the items applied. */
  applied?: boolean;
}

export type KernelMode = 'required' | 'best-effort' | 'off';

/** The kernel part of the `tuning` output. */
export interface KernelPlan {
  /** Where the live values are (/proc/sys unless redirected for tests). */
  root: string;
  /** The drop-in file under /etc/sysctl.d that keeps the values across reboots. */
  dropin: string;
  /** The drop-in's exact text before tune-target; null when there was none (revert removes it). */
  dropinOriginal: string | null;
  /** Whether tune-target wrote the drop-in. */
  dropinWritten: boolean;
  items: KernelItem[];
  /** Why nothing (or not everything) was applied, when the kernel refused. */
  notApplied?: string;
}

const MiB16 = 16 * 1024 * 1024;

interface Wanted {
  key: string;
  /** Numbers wanted; each one is a floor: a larger current number is kept. */
  value: number[];
  /** 'floor': never lower a number already larger; 'exact': the value as given. */
  how: 'floor' | 'exact';
  reason: string;
}

export const KERNEL_SETTINGS: readonly Wanted[] = [
  {
    key: 'net.core.rmem_max',
    value: [MiB16],
    how: 'floor',
    reason:
      'the largest receive buffer a socket may use: 16 MiB lets the replication stream keep a long or fast link full (buffer = bandwidth x round trip; 1 Gbit/s at 100 ms needs 12 MiB) instead of stalling on a full window',
  },
  {
    key: 'net.core.wmem_max',
    value: [MiB16],
    how: 'floor',
    reason:
      'the largest send buffer a socket may use: 16 MiB, so that the new primary can stream its WAL/binlog as fast as the link allows once replicas follow it',
  },
  {
    key: 'net.ipv4.tcp_rmem',
    value: [4096, 87380, MiB16],
    how: 'floor',
    reason: 'min, default and max TCP receive buffer: receive autotuning may grow a replication connection up to 16 MiB; a larger current number is kept',
  },
  {
    key: 'net.ipv4.tcp_wmem',
    value: [4096, 65536, MiB16],
    how: 'floor',
    reason: 'min, default and max TCP send buffer: send autotuning may grow up to 16 MiB; a larger current number is kept',
  },
  {
    key: 'net.ipv4.tcp_syncookies',
    value: [1],
    how: 'floor',
    reason: 'keep accepting connections when the SYN backlog overflows: every application client reconnects to the new primary at once after cutover',
  },
  {
    key: 'net.ipv4.tcp_tw_reuse',
    value: [1],
    how: 'exact',
    reason: 'reuse TIME_WAIT sockets for new outgoing connections, so that clients and tunnels reconnecting many times do not run out of local ports',
  },
];

export const KERNEL_KEYS: readonly string[] = KERNEL_SETTINGS.map((s) => s.key);

/** The link between source and target, when the user gave its rate (input link-bandwidth-mbit) and zdm measured its RTT. */
export interface LinkFacts {
  bandwidthMbit: number;
  rttMs: number;
}

/** Socket buffers sized from a link are kept within these: enough for any LAN, not so much one socket can eat the RAM. */
export const BDP_FLOOR = 4 * 1024 * 1024;
export const BDP_CEILING = 128 * 1024 * 1024;

/**
 * The largest socket buffer a link needs: its bandwidth-delay product (the bytes in flight) times 2,
 * because Linux counts its own overhead against the buffer and advertises about half of it as the
 * TCP window; rounded up to a MiB, within BDP_FLOOR and BDP_CEILING. The reason says each step.
 */
export function bufferForLink(link: LinkFacts): { bytes: number; reason: string } {
  const bdp = ((link.bandwidthMbit * 1e6) / 8) * (link.rttMs / 1000);
  const wanted = Math.ceil((2 * bdp) / 1048576) * 1048576;
  const bytes = Math.min(BDP_CEILING, Math.max(BDP_FLOOR, wanted));
  const mib = (n: number) => `${(n / 1048576).toFixed(n < 1048576 * 10 ? 1 : 0)} MiB`;
  const bound =
    bytes === BDP_FLOOR && wanted < BDP_FLOOR
      ? ` -> the floor, ${mib(BDP_FLOOR)}`
      : bytes === BDP_CEILING && wanted > BDP_CEILING
        ? ` -> the ceiling, ${mib(BDP_CEILING)}`
        : '';
  return {
    bytes,
    reason: `sized from the link: ${link.bandwidthMbit} Mbit/s x ${link.rttMs.toFixed(1)} ms RTT = ${mib(bdp)} in flight (bandwidth-delay product), x2 for the kernel's overhead = ${mib(wanted)}${bound}`,
  };
}

/** The four buffer settings with their largest value from the link instead of the fixed 16 MiB. */
function forLink(w: Wanted, link: LinkFacts | undefined): Wanted {
  if (!link || !BUFFER_KEYS.includes(w.key)) return w;
  const { bytes, reason } = bufferForLink(link);
  const value = [...w.value.slice(0, -1), bytes];
  return { ...w, value, reason: `${w.reason.split(':')[0]}: ${reason}` };
}

const BUFFER_KEYS = ['net.core.rmem_max', 'net.core.wmem_max', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];

/** The numbers in a sysctl value: /proc/sys separates them with tabs, sysctl.conf with spaces. */
export function numbers(text: string): number[] | undefined {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.map(Number);
}

/** The path of a setting's live value under `root`: net.core.rmem_max -> <root>/net/core/rmem_max. */
export function sysctlPath(root: string, key: string): string {
  return `${root.replace(/\/+$/, '')}/${key.replace(/\./g, '/')}`;
}

function decide(w: Wanted, original: string | null, override: string | undefined): KernelItem {
  if (original === null) return { key: w.key, original, value: '', change: false, reason: `${w.reason} (this kernel has no such setting: skipped)` };
  const cur = numbers(original);
  if (override !== undefined) {
    const value = numbers(override)!.join(' ');
    return {
      key: w.key,
      original,
      value,
      change: !cur || cur.join(' ') !== value,
      reason: `set by tuning-overrides (zdm would choose ${w.value.join(' ')}: ${w.reason})`,
    };
  }
  if (!cur || cur.length !== w.value.length) {
    return {
      key: w.key,
      original,
      value: original.trim(),
      change: false,
      reason: `${w.reason} (the current value ${JSON.stringify(original.trim())} is not the expected form: left as it is)`,
    };
  }
  const want = w.how === 'floor' ? w.value.map((n, i) => Math.max(n, cur[i])) : w.value;
  const value = want.join(' ');
  const change = value !== cur.join(' ');
  return { key: w.key, original, value, change, reason: change ? w.reason : `${w.reason} (already ${cur.join(' ')}: kept)` };
}

/** Validates kernel overrides: known keys, and as many whole numbers as the setting has. */
export function checkKernelOverrides(overrides: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(overrides)) {
    const w = KERNEL_SETTINGS.find((s) => s.key === key);
    if (!w) continue;
    const n = numbers(value);
    if (!n || n.length !== w.value.length)
      problems.push(`${key} needs ${w.value.length} whole number(s) separated by spaces, e.g. "${w.value.join(' ')}" (got ${JSON.stringify(value)})`);
  }
  return problems;
}

/** The kernel plan from the current texts (null: the setting does not exist), with overrides for any key. */
export function planKernel(current: Record<string, string | null>, overrides: Record<string, string> = {}, link?: LinkFacts): KernelItem[] {
  return KERNEL_SETTINGS.map((w) => decide(forLink(w, link), current[w.key] ?? null, overrides[w.key]));
}

/** The drop-in file: the changed values, each under its reason, read by systemd-sysctl at boot. */
export const DROPIN_HEADER = '# Written by zdm tune-target for a database migration. `zdm revert` removes it.';

export function dropinText(items: KernelItem[]): string {
  const lines = [DROPIN_HEADER];
  for (const i of items.filter((x) => x.change)) lines.push(`# ${i.reason}`, `${i.key} = ${i.value}`);
  return lines.join('\n') + '\n';
}

/** What is wrong with a kernel plan that came back as an input, or undefined when it is one zdm wrote. */
export function kernelPlanProblem(k: unknown): string | undefined {
  const p = k as KernelPlan;
  if (!p || typeof p !== 'object' || !Array.isArray(p.items)) return 'no items';
  const path = (x: unknown) => typeof x === 'string' && x.startsWith('/') && !x.split('/').includes('..');
  if (!path(p.root) || !path(p.dropin)) return 'paths are not absolute';
  if (p.dropinOriginal !== null && typeof p.dropinOriginal !== 'string') return 'bad drop-in original';
  for (const i of p.items) {
    if (!KERNEL_KEYS.includes(i?.key)) return `unknown setting ${JSON.stringify(i?.key)}`;
    if (i.original !== null && typeof i.original !== 'string') return `bad original for ${i.key}`;
    if (i.applied && (i.original === null || !numbers(i.original))) return `bad original for ${i.key}`;
    if (i.change && !numbers(i.value)) return `bad value for ${i.key}`;
  }
  return undefined;
}
