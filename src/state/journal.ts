/**
 * The journal: how a step keeps the migration record (record.ts). runStep opens it before the step
 * runs (refusing a record of another migration of the same target), marks the start, and writes
 * the step's outputs and the phase it reached, or its error, when it ends. Steps reach it through
 * the step context to read what earlier runs left (tuning, what was made) and to mark a phase
 * inside a step (cutover: fenced).
 */
import * as os from 'node:os';
import { describeError, InputError, UserError } from '../errors.js';
import type { Host } from '../hosts/host.js';
import type { Inputs, StepName } from '../inputs.js';
import type { Log } from '../log.js';
import type { TuningPlan } from '../tuning/plan.js';

/** What the step read of the servers (the engine's MigrationState, as far as the record is compared with it). */
export interface ServersSeen {
  target: 'streaming-replica' | 'broken-replica' | 'primary' | 'unreachable';
  seededByZdm: boolean;
  detail: string;
}
import {
  defaultMigrationId,
  FINISHED_PHASES,
  PROMOTED_PHASES,
  newRecord,
  RecordStore,
  urlWithoutSecrets,
  validMigrationId,
  type MigrationRecord,
  type Phase,
  type RunInfo,
} from './record.js';

/** The phase a step's success leaves the migration in (none: the step does not move it). */
const PHASE_AFTER: Partial<Record<StepName, Phase>> = {
  'tune-target': 'tuned',
  'seed-replica': 'seeded',
  'await-lag-zero': 'caught-up',
  cutover: 'promoted',
  rollback: 'rolled-back',
  finalize: 'finalized',
  revert: 'reverted',
  abort: 'aborted',
};
/** Steps that only read: they never write the record. */
const READ_ONLY: readonly StepName[] = ['status'];
/** Steps that begin a migration: a finished record of the same id is archived and a new one begun. */
const BEGINS: readonly StepName[] = ['preflight', 'tune-target', 'seed-replica'];

/** The run writing an event: Actions tells its URL, commit and actor; elsewhere, the host. */
export function currentRun(env: NodeJS.ProcessEnv = process.env): RunInfo {
  const url =
    env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
      : undefined;
  return { url, commit: env.GITHUB_SHA, actor: env.GITHUB_ACTOR, host: os.hostname() };
}

export class Journal {
  private constructor(
    readonly store: RecordStore,
    private rec: MigrationRecord,
    private readonly step: StepName,
    private readonly mask: (s: string) => string,
    private readonly writes: boolean,
  ) {}

  /** The record as it stands (a copy is not made: treat it as read-only outside the journal). */
  get record(): MigrationRecord {
    return this.rec;
  }

  /** The tuning plan: the input when given, else what tune-target wrote into the record. */
  tuning(): TuningPlan | undefined {
    return this.rec.tuning;
  }

  /**
   * Opens the record of this migration for `step`. Refuses a record that belongs to another
   * migration of the same target (another source, another engine) while it is unfinished.
   */
  static async open(step: StepName, inputs: Inputs, host: Host, log: Log, mask: (s: string) => string): Promise<Journal> {
    const id = inputs.migrationId || defaultMigrationId(inputs.targetUrl);
    if (!validMigrationId(id))
      throw new InputError('migration-id', `must be letters, digits, '.', '_' or '-' (at most 128), e.g. orders-2026 (got ${JSON.stringify(id)})`);
    const store = new RecordStore(host, inputs.stateDir);
    const source = urlWithoutSecrets(inputs.sourceUrl);
    const target = urlWithoutSecrets(inputs.targetUrl)!;
    let rec: MigrationRecord | undefined;
    try {
      rec = await store.read(id);
    } catch (e) {
      throw new UserError(
        `the migration record ${store.pathOf(id)} cannot be read (${describeError(e)}): move it aside if it is not zdm's, or set state-dir / migration-id`,
        { cause: e },
      );
    }
    // A record whose steps changed nothing yet (no phase: preflight, or a seed refused by its checks) holds no migration.
    const finished = rec?.phase === undefined || FINISHED_PHASES.includes(rec.phase);
    if (rec && !finished && rec.engine !== inputs.engine) throw otherMigration(store, rec, `engine ${rec.engine}, not ${inputs.engine}`);
    if (rec && !finished && source && rec.source && rec.source !== source) throw otherMigration(store, rec, `source ${rec.source}, not ${source}`);
    const writes = !READ_ONLY.includes(step);
    if (rec?.phase && finished && BEGINS.includes(step) && writes) {
      // A new migration of the same target: the finished one is kept aside, under its finish time.
      const aside = `${store.pathOf(id).replace(/\.json$/, '')}.${rec.updatedAt.replace(/[:.]/g, '-')}.json`;
      await host.rename(store.pathOf(id), aside);
      log.info(`migration record: the finished migration ${id} (${rec.phase}) is kept as ${aside}; a new record begins`);
      rec = undefined;
    }
    if (!rec) rec = newRecord(id, inputs.engine, source, target);
    rec.source ??= source;
    const j = new Journal(store, rec, step, mask, writes);
    return j;
  }

  /** Warns where the record disagrees with the servers' real state (read by the step first), which the step goes by. */
  checkAgainst(state: ServersSeen, log: Log): void {
    const d = recordDisagrees(this.rec, state);
    if (d) log.warn(d);
  }

  /** Marks the step's start, written at once: a run that dies leaves it. */
  async started(): Promise<void> {
    await this.event({ result: 'started' });
  }

  /** A phase reached inside the step (cutover: fenced), written at once. */
  async phase(phase: Phase, detail?: string): Promise<void> {
    await this.event({ result: 'note', phase, detail });
  }

  /** Remembers something zdm made that outlives the step, written at once. */
  async made(what: Partial<MigrationRecord['made']>): Promise<void> {
    Object.assign(this.rec.made, what);
    await this.flush();
  }

  /** Keeps a part another module owns (the approval, the audit) in the record, written at once. */
  async extra(name: string, value: unknown): Promise<void> {
    (this.rec.extra ??= {})[name] = value;
    await this.flush();
  }

  /** The step ended well: its outputs, and what they tell (tuning plan, method). */
  async succeeded(outputs: Record<string, string>): Promise<void> {
    const now = new Date().toISOString();
    this.rec.steps[this.step] = { at: now, outputs };
    if (this.step === 'tune-target' && outputs.tuning) {
      const plan = JSON.parse(outputs.tuning) as TuningPlan;
      if (plan.dryRun) {
        delete this.rec.steps[this.step];
        return this.event({ result: 'ok', detail: 'dry run: nothing changed' });
      }
      this.rec.tuning = plan;
    }
    if (outputs.method && outputs.method !== 'auto') this.rec.method = outputs.method;
    if (outputs['replication-slot']) this.rec.made.replicationSlot = outputs['replication-slot'];
    if (outputs['heartbeat-table']) this.rec.made.heartbeatTable = outputs['heartbeat-table'];
    await this.event({ result: 'ok', phase: PHASE_AFTER[this.step] });
  }

  async failed(e: unknown): Promise<void> {
    await this.event({ result: 'failed', detail: this.mask(describeError(e)).split('\n')[0].slice(0, 500) });
  }

  private async event(e: { result: 'started' | 'ok' | 'failed' | 'note'; phase?: Phase; detail?: string }): Promise<void> {
    const at = new Date().toISOString();
    const event = { at, step: this.step, ...e, run: currentRun() };
    this.rec.events.push(event);
    this.pending.push(event);
    if (e.phase) this.rec.phase = e.phase;
    await this.flush(at);
  }

  /**
   * Two runs on one migration at once (a second cutover that the switch lock will refuse, a status):
   * each keeps its own copy, so before writing, the other's events and parts on disk are kept, with
   * this journal's new events after them.
   */
  private async mergeFromDisk(): Promise<void> {
    const disk = await this.store.read(this.rec.id).catch(() => undefined);
    if (!disk || disk.createdAt !== this.rec.createdAt) return;
    const mine = new Set(this.pending);
    const known = new Set(disk.events.map((e) => `${e.at} ${e.step} ${e.result}`));
    this.rec.events = [...disk.events, ...[...mine].filter((e) => !known.has(`${e.at} ${e.step} ${e.result}`))].sort((a, b) => a.at.localeCompare(b.at));
    this.rec.phase = lastPhase(this.rec.events) ?? this.rec.phase;
    for (const [step, d] of Object.entries(disk.steps)) {
      const own = this.rec.steps[step];
      if (d && (!own || own.at < d.at)) this.rec.steps[step] = d;
    }
    this.rec.made = { ...disk.made, ...this.rec.made };
    this.rec.tuning ??= disk.tuning;
    this.rec.method ??= disk.method;
    if (disk.extra) this.rec.extra = { ...disk.extra, ...this.rec.extra };
  }

  /** Events this journal added since it last wrote: merged into what is on disk, which another run may have written meanwhile. */
  private pending: MigrationRecord['events'] = [];

  private async flush(at = new Date().toISOString()): Promise<void> {
    if (!this.writes) return;
    this.rec.updatedAt = at;
    try {
      await this.mergeFromDisk();
      await this.store.write(this.rec);
      this.pending = [];
    } catch (e) {
      throw new InputError(
        'state-dir',
        `${this.store.dir} cannot hold the migration record on the target (${describeError(e)}): give a directory the step's user may create and write, e.g. /var/lib/zdm as root`,
      );
    }
  }
}

/**
 * Where the record and the servers disagree, in words, or undefined. Steps go by the servers (they
 * read them first) and say so: a record written by a run that died, or lost, never overrides them.
 */
export function recordDisagrees(rec: MigrationRecord, state: ServersSeen): string | undefined {
  const p = rec.phase;
  const says = `the migration record ${rec.id} says ${p ?? 'nothing was done yet'}`;
  const replica = state.target === 'streaming-replica' || state.target === 'broken-replica';
  let seen: string | undefined;
  if ((p === 'seeded' || p === 'caught-up' || p === 'fenced') && state.target === 'primary' && !state.seededByZdm)
    seen = 'the target is a primary that zdm did not seed';
  else if (p && PROMOTED_PHASES.includes(p) && p !== 'rolled-back' && replica) seen = 'the target is still a replica';
  else if ((p === undefined || p === 'tuned') && replica && state.seededByZdm)
    seen = 'the target already replicates from a seed of zdm (another run, or a lost record)';
  return seen ? `${says}, but ${seen} (${state.detail}): zdm goes by the servers` : undefined;
}

/** The merged record's phase: that of its last event with one (events are in time order). */
function lastPhase(events: MigrationRecord['events']): Phase | undefined {
  return [...events].reverse().find((e) => e.phase)?.phase;
}

function otherMigration(store: RecordStore, rec: MigrationRecord, why: string): UserError {
  return new UserError(
    `the migration record ${store.pathOf(rec.id)} belongs to another migration of this target (${why}; phase ${rec.phase ?? 'begun'}, last written ${rec.updatedAt}). ` +
      `Finish or abort that migration first (zdm abort with its inputs), or give this one its own migration-id. Nothing was changed.`,
  );
}
