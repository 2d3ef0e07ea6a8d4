/** TCP connect probes: how long the runner takes to open a connection to a server, as percentiles. */
import { promises as dns } from 'node:dns';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ProbeResult {
  /** host:port probed. */
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

export interface ProbeOptions {
  count?: number;
  timeoutMs?: number;
  /** Stop after this many failures in a row: a dead address need not be tried 100 times. */
  giveUpAfter?: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = net.connect({ host, port });
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    });
    sock.once('connect', () => {
      const ms = performance.now() - t0;
      sock.destroy();
      resolve(ms);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      sock.destroy();
      reject(new Error(e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.message)));
    });
  });
}

/** Opens `count` TCP connections to host:port one after the other and times each. */
export async function probeTcp(host: string, port: number, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const { count = 100, timeoutMs = 3000, giveUpAfter = 3 } = opts;
  const bare = host.replace(/^\[|\]$/g, '');
  const address = `${bare.includes(':') ? `[${bare}]` : bare}:${port}`;
  const result: ProbeResult = { address, attempts: 0, failures: 0, samplesMs: [] };
  let ip = bare;
  if (net.isIP(bare) === 0) {
    // Resolve once, so that the figures are connect times, not name lookups.
    try {
      ip = (await dns.lookup(bare)).address;
    } catch (e) {
      return { ...result, attempts: 1, failures: 1, error: `cannot resolve ${bare}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  }
  let inARow = 0;
  for (let i = 0; i < count && inARow < giveUpAfter; i++) {
    result.attempts++;
    try {
      result.samplesMs.push(await connectOnce(ip, port, timeoutMs));
      inARow = 0;
    } catch (e) {
      result.failures++;
      inARow++;
      result.error = (e as Error).message;
    }
  }
  result.samplesMs.sort((a, b) => a - b);
  result.p50 = percentile(result.samplesMs, 50);
  result.p99 = percentile(result.samplesMs, 99);
  return result;
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
