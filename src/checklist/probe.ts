/** Connect probes: how long the runner takes to open a connection to a server, as percentiles. */
import { promises as dns } from 'node:dns';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SshConnection } from '../hosts/ssh.js';

export interface ProbeResult {
  /** What was probed, e.g. `127.0.0.1:5432` or `127.0.0.1:5432 through SSH user@host:22`. */
  address: string;
  attempts: number;
  failures: number;
  /** Connect times of the attempts that succeeded, sorted, in ms. */
  samplesMs: number[];
  p50?: number;
  p99?: number;
  /** The last error, when an attempt failed. */
  error?: string;
}

/** Opens one connection; resolves, once it is open, with a function that closes it. */
export type Opener = () => Promise<() => void>;

export interface ProbeOptions {
  count?: number;
  /** Stop after this many failures in a row: a dead address need not be tried 100 times. */
  giveUpAfter?: number;
  /**
   * Servers that count connections closed before login against the client's address (MySQL's
   * max_connect_errors) must see a real login every so often: `clear` runs after every
   * `clearEvery` connects, untimed. When it fails, probing stops there.
   */
  clearEvery?: number;
  clear?: () => Promise<void>;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function formatAddress(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return `${bare.includes(':') ? `[${bare}]` : bare}:${port}`;
}

/** TCP connects from this machine. The name is resolved once, so that the figures are connects, not lookups. */
export async function tcpOpener(host: string, port: number, timeoutMs = 3000): Promise<Opener> {
  const bare = host.replace(/^\[|\]$/g, '');
  let ip = bare;
  if (net.isIP(bare) === 0) {
    try {
      ip = (await dns.lookup(bare)).address;
    } catch (e) {
      const why = `cannot resolve ${bare}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      return () => Promise.reject(new Error(why));
    }
  }
  return () =>
    new Promise((resolve, reject) => {
      const sock = net.connect({ host: ip, port });
      sock.setTimeout(timeoutMs, () => {
        sock.destroy();
        reject(new Error(`no answer within ${timeoutMs} ms`));
      });
      sock.once('connect', () => {
        sock.setTimeout(0);
        resolve(() => sock.destroy());
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        sock.destroy();
        reject(new Error(e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)));
      });
    });
}

/**
 * Channels through an SSH connection that is already open, to host:port as the SSH host sees it:
 * the path zdm's SQL takes. Fresh SSH connections would be unauthenticated ones, which sshd
 * penalizes (PerSourcePenalties) and fail2ban bans.
 */
export function sshOpener(connection: SshConnection, host: string, port: number): Opener {
  return async () => {
    const ch = await connection.forwardOut(host, port);
    ch.on('error', () => undefined);
    return () => ch.close();
  };
}

/** Opens `count` connections one after the other and times each. */
export async function probe(address: string, open: Opener, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const { count = 100, giveUpAfter = 3, clearEvery, clear } = opts;
  const result: ProbeResult = { address, attempts: 0, failures: 0, samplesMs: [] };
  let inARow = 0;
  let sinceClear = 0;
  for (let i = 0; i < count && inARow < giveUpAfter; i++) {
    if (clear && clearEvery && sinceClear >= clearEvery) {
      try {
        await clear();
      } catch {
        break;
      }
      sinceClear = 0;
    }
    result.attempts++;
    sinceClear++;
    const t0 = performance.now();
    try {
      const close = await open();
      result.samplesMs.push(performance.now() - t0);
      close();
      inARow = 0;
    } catch (e) {
      result.failures++;
      inARow++;
      result.error = (e as Error).message;
    }
  }
  // Leave the server's count of unauthenticated connects at zero.
  if (clear && sinceClear > 0 && result.samplesMs.length > 0) await clear().catch(() => undefined);
  result.samplesMs.sort((a, b) => a - b);
  result.p50 = percentile(result.samplesMs, 50);
  result.p99 = percentile(result.samplesMs, 99);
  return result;
}

/** 100 TCP connects to host:port from this machine. */
export async function probeTcp(host: string, port: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
  return probe(formatAddress(host, port), await tcpOpener(host, port), opts);
}

const ms = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(v < 10 ? 2 : 1)} ms`);

/** A checklist verdict for probes: fail when no connection opened, warn when some failed or p99 is above `maxP99Ms`. */
export function judgeProbe(r: ProbeResult, maxP99Ms: number): { status: 'ok' | 'warn' | 'fail'; detail: string } {
  const figures = `p50 ${ms(r.p50)}, p99 ${ms(r.p99)} over ${r.samplesMs.length} connects to ${r.address}`;
  if (r.samplesMs.length === 0)
    return {
      status: 'fail',
      detail: `cannot open a TCP connection to ${r.address} (${r.error ?? 'no answer'}). Check the host and port, that the server runs and listens on that address, and any firewall between the runner and it.`,
    };
  if (r.failures > 0)
    return {
      status: 'warn',
      detail: `${figures}; ${r.failures} of ${r.attempts} connects failed (${r.error}): an unsteady network path. Find out why before cutover.`,
    };
  if (r.p99 !== undefined && r.p99 > maxP99Ms)
    return {
      status: 'warn',
      detail: `${figures}: p99 is above max-latency-ms (${maxP99Ms} ms); each round trip of the migration and of the application costs that much.`,
    };
  return { status: 'ok', detail: figures };
}
