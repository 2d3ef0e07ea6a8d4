/**
 * Everything a step may ask of a database. Steps orchestrate through this seam and hold no
 * SQL; each engine (src/engines/<engine>/) holds every statement for its database.
 */
import type { Host } from '../hosts/host.js';
import type { SshContext } from '../hosts/transport.js';
import type { Inputs } from '../inputs.js';
import type { Log } from '../log.js';

/** One setting tune-target changes, with what it was and why. */
export interface TuningItem {
  name: string;
  original: string;
  value: string;
  reason: string;
  /** 'reload': takes effect at once; 'restart': at the next server start (seed-replica starts it). */
  applies: 'reload' | 'restart';
  /** Relaxed durability for catching up: restored by cutover before the target takes writes. */
  relaxesDurability: boolean;
  /** Restored by cutover (catch-up settings); false for sizing that suits the new primary too. */
  revertAtCutover: boolean;
}

export interface TuningPlan {
  engine: string;
  memoryBytes: number;
  cpus: number;
  items: TuningItem[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SeedResult {
  position: string;
  seconds: number;
  bytes: number;
  sourceVersion: string;
}

export interface LagSample {
  at: number;
  /** Bytes of WAL/binlog the source has written that the target has not applied. */
  bytes: number;
  /** Heartbeat lag in seconds, or undefined when the target has no heartbeat yet. */
  seconds: number | undefined;
  /** Whether the target is receiving changes from the source right now. */
  streaming: boolean;
  /** What the engine sees, for a diagnosis: receiver state, last error... */
  detail: string;
  /** A replication error that will not heal by waiting; stops await-lag-zero at once. */
  fatal?: string;
}

export interface Fence {
  mode: Inputs['fence'];
  startedAt: number;
  /** Data needed to lift the fence again (roles locked, ...). */
  undo: unknown;
}

/** Reverse replication after cutover: the old source replicating from the new primary. */
export interface ReverseReplication {
  /** host:port the old source replicates from (no credentials). */
  from: string;
  /** Where it continues from on the new primary: the position of the switch. */
  position: string;
  notes: string[];
}

export interface Heartbeat {
  stop(): Promise<void>;
  /** Writes so far and the last error, for diagnosis. */
  readonly writes: number;
  readonly lastError: string | undefined;
}

export interface StepContext {
  inputs: Inputs;
  log: Log;
  /** The host the target server runs on (the runner's own machine unless configured otherwise). */
  targetHost: Host;
  /** The host the source server runs on, where a physical backup reads its files (this machine unless configured otherwise). */
  sourceHost: Host;
  /** The runner's own machine. */
  runnerHost: Host;
  /** Set when the source is reached through SSH. */
  ssh?: SshContext;
}

export interface Engine {
  readonly kind: Inputs['engine'];
  /** Closes every connection the engine opened. */
  close(): Promise<void>;

  planTuning(resources: { memoryBytes: number; cpus: number }): Promise<TuningPlan>;
  applyTuning(plan: TuningPlan): Promise<void>;
  /** Restores `original` for the items chosen (all of them for the `revert` mode). */
  revertTuning(items: TuningItem[]): Promise<void>;

  /** Checks made before anything is changed; any failed check stops seed-replica. */
  preflightSeed(): Promise<Check[]>;
  seed(plan: TuningPlan | undefined): Promise<SeedResult>;

  startHeartbeat(): Promise<Heartbeat>;
  measureLag(): Promise<LagSample>;

  fence(): Promise<Fence>;
  /** The source's last position, captured after the fence. */
  finalPosition(fence: Fence): Promise<string>;
  /** Waits until the target has applied `position`; throws SafetyError past `timeoutMs`. */
  waitApplied(position: string, timeoutMs: number): Promise<void>;
  /** Promotes the target; it accepts the application's writes when this returns. */
  promote(fence: Fence): Promise<void>;
  /** Gives the source its writes back after a failed cutover. */
  unfence(fence: Fence): Promise<void>;
  /** Removes replication leftovers after promotion (slot on the source, stored credentials). */
  cleanupAfterPromotion(): Promise<string[]>;
  /** A connection string to the new primary without credentials. */
  endpoint(): string;

  /**
   * cutover with reverse-replication, before the fence: proves that the old source can become a
   * replica of the target once it is promoted (inputs, fence, replication login on the target) and
   * collects what that needs. Throws a UserError saying what is missing; changes nothing.
   */
  prepareReverse(): Promise<unknown>;
  /** After promotion and cleanup: makes the old source a replica of the new primary from `finalPosition`. */
  startReverse(prepared: unknown, fence: Fence, finalPosition: string): Promise<ReverseReplication>;
  /** finalize: the old source stops replicating from the new primary; leftovers on both are removed. */
  teardownReverse(): Promise<string[]>;
}
