/**
 * Everything a step may ask of a database. Steps orchestrate through this seam and hold no
 * SQL; each engine (src/engines/<engine>/) holds every statement for its database.
 */
import { describeError, UserError } from '../errors.js';
import type { Endpoint, SideNames } from '../hosts/endpoint.js';
import type { CheckUnit } from '../checks/check.js';
import type { Host } from '../hosts/host.js';
import type { SshContext } from '../hosts/transport.js';
import type { Inputs } from '../inputs.js';
import type { Log } from '../log.js';
import type { Note } from '../notes.js';
import type { TableVerifier } from '../verify/types.js';
import type { Journal } from '../state/journal.js';

export type { TuningItem, TuningPlan, TuningResources } from '../tuning/plan.js';
import type { TuningItem, TuningPlan, TuningResources } from '../tuning/plan.js';

export interface SeedResult {
  position: string;
  seconds: number;
  bytes: number;
  sourceVersion: string;
  /** How the copy was made (physical or logical), when the engine resolved method: auto. */
  method?: string;
  /** What made the copy (clone, backup, mydumper, mysqldump...), where the engine tells. */
  tool?: string;
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
  /**
   * Byte offsets on one scale (WAL LSNs; binlog offsets counted over the source's binlog files):
   * written on the source, received by the target, applied by the target. Their rates tell the
   * network from the apply as the bottleneck. Absent when the engine cannot place them.
   */
  positions?: { source: number; received: number; applied: number };
}

/**
 * What the servers really are right now, read before a step acts, so that a step re-run after a
 * failure or a runner crash continues or refuses instead of trusting its inputs alone.
 */
export interface MigrationState {
  /** streaming-replica: replicating from the source now; broken-replica: configured as a replica but not replicating. */
  target: 'streaming-replica' | 'broken-replica' | 'primary' | 'unreachable';
  /** zdm's heartbeat table is on the target: it was seeded from the source by zdm. */
  seededByZdm: boolean;
  /** fenced: read-only as a cutover leaves it; unreachable: down (as the shutdown fence leaves it) or out of reach. */
  source: 'writable' | 'fenced' | 'unreachable';
  /** What was seen, for messages. */
  detail: string;
}

/** Writes blocked on one side; `Undo` is what the engine needs to lift it again (PostgreSQL: the roles it made NOLOGIN). */
export interface Fence<Undo = unknown> {
  mode: Inputs['fence'];
  startedAt: number;
  /** Data needed to lift the fence again (roles locked, ...). */
  undo: Undo;
  /**
   * Moments inside the switch the engine alone can see (the stop command returned, the final WAL
   * received, promotion requested): the step puts them on its timeline, for the timing breakdown.
   */
  marks?: SwitchMark[];
  /** What the engine read of the fenced side at the final position, to find writes past the fence later (PostgreSQL: the next transaction id). */
  audit?: string;
}

/**
 * A fence that failed half way up: the side may already refuse writes, so the switch lifts `fence`
 * before it reports `cause`. The message is the cause's.
 */
export class FenceError<Undo = unknown> extends UserError {
  constructor(
    readonly fence: Fence<Undo>,
    cause: unknown,
  ) {
    super(describeError(cause), { cause });
    this.name = 'FenceError';
  }
}

/** A cutover or rollback holding the switch lock on the side that stays up. */
export interface SwitchLock {
  release(): Promise<void>;
}

/** Transactions the fenced side took after its fence, found after promotion. */
export interface WritesAfterFence {
  /** undefined: it could not be told (the side is down or out of reach). */
  count: number | undefined;
  /** The first such transaction (a GTID, a transaction id). */
  first?: string;
  detail: string;
}

/** One moment of the switch; `phase` names the part of the switch that ends there. */
export interface SwitchMark {
  at: number;
  what: string;
  phase: string;
}

/** Records a moment of the switch on the fence (see Fence.marks). */
export function markSwitch(f: Fence, phase: string, what: string, at = Date.now()): void {
  (f.marks ??= []).push({ at, what, phase });
}

/** Reverse replication after cutover: the old source replicating from the new primary. */
export interface ReverseReplication {
  /** host:port the old source replicates from (no credentials). */
  from: string;
  /** Where it continues from on the new primary: the position of the switch. */
  position: string;
  notes: Note[];
}

export interface Heartbeat {
  stop(): Promise<void>;
  /** Writes so far and the last error, for diagnosis. */
  readonly writes: number;
  readonly lastError: string | undefined;
}

/** Facts about one server that preflight and post-cutover compare. */
export interface ServerLimits {
  version: string;
  maxConnections: number;
  /** Of those, the connections only superusers may use (superuser_reserved_connections...). */
  reservedConnections: number;
  /**
   * How many connections in a row from one address may close before logging in until the server
   * blocks that address (MySQL/MariaDB max_connect_errors); Infinity when it never does.
   */
  preAuthErrorLimit: number;
}

/** One durability setting of the new primary and whether it keeps acknowledged writes through a crash. */
export interface DurabilitySetting {
  name: string;
  value: string;
  durable: boolean;
  /** What to do when it is not durable. */
  fix: string;
}

/** What post-cutover needs to know about the new primary. */
export interface PrimaryState {
  /** Why the application cannot write to it, or undefined when it can. */
  notWritable?: string;
  durability: DurabilitySetting[];
  /** Servers replicating from it now: a name (and address), and whether it is streaming. */
  replicas: { name: string; streaming: boolean }[];
}

export interface StepContext {
  inputs: Inputs;
  log: Log;
  /** The source as this step reaches it (undefined for a step without source-url). rollback swaps the two. */
  source?: Endpoint;
  /** The target as this step reaches it. */
  target: Endpoint;
  /** How messages name the sides (CUTOVER_NAMES unless the step says otherwise: rollback). */
  names?: SideNames;
  /** The host the target server runs on (the runner's own machine unless configured otherwise). */
  targetHost: Host;
  /** The host the source server runs on, where a physical backup reads its files (this machine unless configured otherwise). */
  sourceHost: Host;
  /** The runner's own machine. */
  runnerHost: Host;
  /** Set when the source is reached through SSH. */
  ssh?: SshContext;
  /** The runner's clock in ms since the epoch (Date.now unless a test injects a skewed one). */
  clock?: () => number;
  /** The migration record on the target (runStep opens it; a context built by hand may have none). */
  journal?: Journal;
  /** On a terminal (the CLI): asks the user to confirm a switch; returns how it was confirmed, or throws. */
  confirm?: (what: { step: string; database: string }) => Promise<'typed' | '--yes'>;
}

/** tune-target's settings and their way back (cutover, revert). */
export interface Tuning {
  /** The settings this engine's plan manages (what tuning-overrides may name). */
  readonly tunable: readonly string[];
  plan(resources: TuningResources): Promise<TuningPlan>;
  apply(plan: TuningPlan): Promise<void>;
  /** Restores `original` for the items chosen (all of them for the `revert` mode). */
  revert(items: TuningItem[]): Promise<void>;
  /**
   * Without a `tuning` input: the durability settings that zdm's own persisted profile relaxed
   * on the target, with the durable value as original, so that cutover still restores them
   * before promotion. Engines whose profile never relaxes durability leave it out.
   */
  relaxedDurability?(): Promise<TuningItem[]>;
}

/** seed-replica: what it enforces first, then the copy that makes the target a replica. */
export interface Seeding {
  /**
   * The engine's check registry, bound to this engine's connections: the `seed` scope holds what
   * seed-replica enforces before it changes anything (and preflight promises); a failed one stops it.
   */
  checks(): CheckUnit[];
  seed(plan: TuningPlan | undefined): Promise<SeedResult>;
}

/** The replication stream while the target catches up: heartbeat, lag, the servers' real state. */
export interface Replication {
  startHeartbeat(): Promise<Heartbeat>;
  measureLag(): Promise<LagSample>;
  /** Reads the real state of both servers. Never throws for a server that is down. */
  migrationState(): Promise<MigrationState>;
}

/** The fenced switch of the primary that cutover and rollback share. */
export interface Switch<FenceUndo = unknown> {
  /**
   * Mutual exclusion of cutover and rollback: a lock held by a session of its own on the target
   * (the side that stays up, whatever the fence) until released. Throws a UserError naming the
   * holder when another run holds it; changes nothing.
   */
  lockSwitch(step: 'cutover' | 'rollback'): Promise<SwitchLock>;
  /** Just before the fence: records `at` on the source; replication takes it to the target, where a resumed run finds it. */
  recordFenceStart(step: 'cutover' | 'rollback', at: number): Promise<void>;
  /** The fence start an interrupted run recorded, read on the target (once it has applied the source's final position). */
  recordedFenceStart(step: 'cutover' | 'rollback'): Promise<number | undefined>;
  /**
   * The fence this switch will use, read before anything is changed: the `fence` input, or what
   * `auto` means for this migration (PostgreSQL logical: read-only). Throws a UserError when the
   * fence given cannot end this migration. Engines without such a choice leave it out (the input is final).
   */
  fenceMode?(): Promise<Fence['mode']>;
  /** Blocks writes on the source. `resume`: a cutover that was interrupted after its fence continues (the source may already be down or read-only). */
  fence(resume?: boolean): Promise<Fence<FenceUndo>>;
  /** The source's last position, captured after the fence. */
  finalPosition(fence: Fence<FenceUndo>): Promise<string>;
  /** Waits until the target has applied `position`; throws SafetyError past `timeoutMs`. */
  waitApplied(position: string, timeoutMs: number): Promise<void>;
  /** Promotes the target; it accepts the application's writes when this returns. */
  promote(fence: Fence<FenceUndo>): Promise<void>;
  /** Gives the source its writes back after a failed cutover. */
  unfence(fence: Fence<FenceUndo>): Promise<void>;
  /**
   * After an abort before promotion, once `unfence` was tried: removes what the switch made on the
   * target for later (PostgreSQL logical: the reverse slot and publication, which would keep the
   * target's WAL for ever). Best effort, never throws: returns what it removed and, for what it
   * could not, what remains and how to remove it by hand ('' when nothing was made). Engines that
   * make nothing there before promotion leave it out.
   */
  abandonBeforePromotion?(): Promise<string>;
  /** Removes replication leftovers after promotion (slot on the source, stored credentials). */
  cleanupAfterPromotion(): Promise<Note[]>;
  /** After promotion: transactions the fenced source took after `finalPosition`. Never throws for a source that is down. */
  writesAfterFence(fence: Fence<FenceUndo>, finalPosition: string): Promise<WritesAfterFence>;
  /** A connection string to the new primary without credentials. */
  endpoint(): string;
  /** How a user tells by hand whether a server of this engine is a primary, e.g. "SELECT pg_is_in_recovery() returns false". */
  primaryCheckHint(): string;
}

/** Which server a side is, for the audit record: its own identifier, version and address. */
export interface ServerIdentity {
  /** system_identifier (PostgreSQL), server_uuid (MySQL) or server_id (MariaDB, which has no uuid). */
  idName: 'system_identifier' | 'server_uuid' | 'server_id';
  id: string;
  /** MySQL/MariaDB: server_id beside server_uuid. */
  serverId?: string;
  version: string;
  /** What the server says of itself: its host name (MySQL/MariaDB) or the address it answered on (PostgreSQL). */
  host: string;
}

/** Facts about one side that preflight, the checklist and post-cutover read. */
export interface Inspection {
  /** Which server this side is (the audit record). */
  identity?(which: 'source' | 'target'): Promise<ServerIdentity>;
  /** Version and connection limits of the source or the target. */
  serverLimits(which: 'source' | 'target'): Promise<ServerLimits>;
  /** Opens and closes one fresh, logged-in connection: it also clears the server's count of unauthenticated connects. */
  freshLogin(which: 'source' | 'target'): Promise<void>;
  /** The server's clock in ms since the epoch, read with one short query (the caller times the round trip). */
  serverNow(which: 'source' | 'target'): Promise<number>;
  /** The target after cutover: writable, durable, and who replicates from it. */
  newPrimaryState(): Promise<PrimaryState>;
  /** Bytes a physical copy of the source would move (its databases' sizes). */
  sourceSize(): Promise<number>;
  /** Reads `bytes` generated by the source in one query, for the caller to time the link. */
  readSample(bytes: number): Promise<void>;
}

/** The verify step's access to both sides. */
export interface Verify {
  /** Tables, key chunks, checksums, positions. */
  verifier(): TableVerifier;
}

/** Reverse replication: the old source replicating from the new primary after cutover. */
export interface Reverse<FenceUndo = unknown, Prepared = unknown> {
  /**
   * cutover with reverse-replication, before the fence: proves that the old source can become a
   * replica of the target once it is promoted (inputs, fence, replication login on the target) and
   * collects what that needs. Throws a UserError saying what is missing; changes nothing.
   */
  prepare(): Promise<Prepared>;
  /** After promotion and cleanup: makes the old source a replica of the new primary from `finalPosition`. */
  start(prepared: Prepared, fence: Fence<FenceUndo>, finalPosition: string): Promise<ReverseReplication>;
  /** finalize: the old source stops replicating from the new primary; leftovers on both are removed. */
  teardown(): Promise<Note[]>;
}

/** What the source keeps for the target while the migration waits (status, await-lag-zero, preflight). */
export interface Retention {
  /** Bytes of WAL / binlog the source keeps for the target; undefined when it cannot be told. */
  retainedBytes: number | undefined;
  /** What keeps them, e.g. "slot zdm_replica (wal_status reserved, inactive)"; '' when nothing does. */
  holder: string;
  /** Whether the thing that keeps them (slot, replica connection) is in use right now. */
  active: boolean;
  /** The source's write position in bytes on one scale (WAL LSN; binlog offsets): two readings give the write rate. */
  writtenBytes: number;
  /** The directory on the source that holds the WAL / binlogs, where it can be read (free disk). */
  dir?: string;
  /** The source's own bound on what it keeps, in words (max_slot_wal_keep_size, binlog expiry). */
  limit: string;
  /** Retention the source's settings leave unbounded, or a slot already lost: what to set, and what happens at the limit. */
  warnings: string[];
  /** Set when the source can no longer serve the target (slot invalidated, binlogs purged): the seed must start again. */
  lost?: string;
}

/** A migration's life around the switch: what the source keeps meanwhile, and abandoning it. */
export interface Lifecycle {
  /** Reads what the source keeps for the target now. Changes nothing. */
  retention(): Promise<Retention>;
  /**
   * abort: removes everything replication made on both sides before promotion (slots, publication,
   * subscription, the target's replication settings and stored password, the heartbeat table and its
   * switch rows), then leaves the target stopped (`stop`) or running on its own (`standalone`).
   * Returns what it removed, one line each: nothing on a second run.
   */
  abandon(target: 'stop' | 'standalone'): Promise<string[]>;
}

/**
 * Everything a step may ask of a database, grouped by capability; each engine builds each group in
 * the module that holds its statements. `FenceUndo`: what this engine's fence keeps to lift it
 * again; `Prepared`: what reverse.prepare collects for reverse.start. Steps hold an `Engine` and
 * only hand both back to the same engine.
 */
export interface Engine<FenceUndo = unknown, Prepared = unknown> {
  readonly kind: Inputs['engine'];
  /** Closes every connection the engine opened. */
  close(): Promise<void>;
  readonly tuning: Tuning;
  readonly seeding: Seeding;
  readonly replication: Replication;
  readonly switch: Switch<FenceUndo>;
  readonly inspection: Inspection;
  readonly verify: Verify;
  readonly reverse: Reverse<FenceUndo, Prepared>;
  readonly lifecycle: Lifecycle;
}
