/**
 * The connection pooler the application connects through, as cutover drives it: hold the
 * application's requests (PAUSE) around the fenced switch, point the pooler's entry at the new
 * primary, release the requests (RESUME). One implementation per pooler (pgbouncer, haproxy).
 */
import type { Verdict } from '../checks/check.js';

/** host:port as the pooler reaches a server. */
export interface Address {
  host: string;
  port: number;
}

/** A pooler's row in preflight: a check verdict that names its pooler. */
export type PoolerCheck = Required<Verdict>;

/** A transaction open through the pooler long enough to hold PAUSE. */
export interface LongTransaction {
  ageSeconds: number;
  /** Who and where, for the user (no credentials). */
  detail: string;
}

export interface Pooler {
  /** e.g. `pgbouncer 10.0.0.5:6432` (no credentials), for messages. */
  readonly label: string;
  /** False for a pooler that cannot hold requests (HAProxy): pause and resume do nothing. */
  readonly holds?: boolean;
  /** Reachable, controllable, the entry to switch exists, and its settings let a hold work. */
  check(): Promise<PoolerCheck[]>;
  /** Whether the entry is held now (an earlier run that died mid-switch leaves it so). */
  isPaused(): Promise<boolean>;
  findLongTransactions(olderThanSeconds: number): Promise<LongTransaction[]>;
  /** Holds new requests once those in flight finish; rejects with PauseTimeout (already resumed) after `timeoutMs`. */
  pause(timeoutMs: number): Promise<void>;
  /** Points the entry at `to`; returns what changed, for the timeline. */
  repoint(to: Address): Promise<string>;
  /** Releases held requests. Safe when not paused. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** PAUSE did not complete in time; the pooler was resumed. */
export class PauseTimeout extends Error {
  constructor(
    readonly pooler: string,
    readonly timeoutMs: number,
  ) {
    super(`${pooler}: PAUSE did not complete within ${timeoutMs / 1000} s (a transaction stayed open)`);
    this.name = 'PauseTimeout';
  }
}

/** Parses `host:port`, `[v6]:port` or a bare host (then `defaultPort`). */
export function parseAddress(text: string, defaultPort: number): Address {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`not a host:port address: ${JSON.stringify(text)}`);
  return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
}
