/**
 * The migration record: one JSON file per migration on the target host, under the `state-dir`
 * input, written by every step. It outlives any one workflow run, so that a migration spread over
 * several runs (and `status`, `abort`, `revert`) need no earlier step's job outputs. It holds no
 * secret: URLs are kept as host:port/database, outputs are the steps' own outputs (which never
 * carry secrets), error texts are masked before they are stored.
 */
import { randomBytes } from 'node:crypto';
import type { Host } from '../hosts/host.js';
import type { TuningPlan } from '../tuning/plan.js';
import type { EngineKind, StepName } from '../inputs.js';

export const RECORD_VERSION = 1;

/** Where a migration stands, as its steps leave it. */
export const PHASES = ['tuned', 'seeding', 'seeded', 'caught-up', 'fenced', 'promoted', 'rolled-back', 'finalized', 'reverted', 'aborted'] as const;
export type Phase = (typeof PHASES)[number];

/** Phases after which the migration holds nothing on the source and a new one may use the target. */
export const FINISHED_PHASES: readonly Phase[] = ['finalized', 'reverted', 'aborted'];
/** Phases after which the target has taken writes as a primary: abort refuses, rollback is the way back. */
export const PROMOTED_PHASES: readonly Phase[] = ['promoted', 'rolled-back', 'finalized'];

/** One thing that happened to the migration, in the order it happened. */
export interface RecordEvent {
  /** ISO 8601 UTC. */
  at: string;
  step: StepName | string;
  result: 'started' | 'ok' | 'failed' | 'note';
  /** The phase the migration entered here, if any. */
  phase?: Phase;
  /** A masked one-line detail: the error of a failed step, what a step found. */
  detail?: string;
}

/** What the run that wrote an event was (Actions: its URL, commit and actor; CLI: the host). */
export interface RunInfo {
  url?: string;
  commit?: string;
  actor?: string;
  host: string;
}

export interface MigrationRecord {
  kind: 'zdm-migration-record';
  version: typeof RECORD_VERSION;
  id: string;
  engine: EngineKind;
  /** physical or logical, once seed-replica has settled it. */
  method?: string;
  /** host:port/database of each side as the inputs gave it, never with credentials. */
  source?: string;
  target: string;
  createdAt: string;
  updatedAt: string;
  phase?: Phase;
  /** tune-target's plan with the originals: what revert and abort restore, and cutover's durability. */
  tuning?: TuningPlan;
  /** The last successful outputs of each step (no secrets: outputs never hold one). */
  steps: Partial<Record<string, { at: string; outputs: Record<string, string> }>>;
  /** What zdm made that outlives a step, named so that abort can remove it and status can show it. */
  made: {
    replicationSlot?: string;
    heartbeatTable?: string;
    tunnelPort?: number;
    pooler?: string;
  };
  /** Every step's start and end, with the run that did it. */
  events: (RecordEvent & { run?: RunInfo })[];
  /** Extensions written by other parts (the approval, the audit): kept as they are. */
  extra?: Record<string, unknown>;
}

/** host:port/database of a URL, never its user or password. */
export function urlWithoutSecrets(u: URL | undefined): string | undefined {
  if (!u) return undefined;
  const db = u.pathname.replace(/^\//, '');
  return `${u.protocol}//${u.host}${db ? `/${db}` : ''}`;
}

/**
 * The default migration id: one migration per target server at a time, so the id names the target
 * (host and port), e.g. `db-new.example-5432`; a second migration of the same target is told
 * apart by its source, and refused while the first is unfinished.
 */
export function defaultMigrationId(target: URL): string {
  const port = target.port || (target.protocol.startsWith('postgres') ? '5432' : '3306');
  const id = `${target.hostname.replace(/^\[|\]$/g, '')}-${port}`.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/\.\.+/g, '.');
  return /^[A-Za-z0-9]/.test(id) ? id : `host${id}`;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export function validMigrationId(id: string): boolean {
  return ID_RE.test(id) && !id.includes('..');
}

export function newRecord(id: string, engine: EngineKind, source: string | undefined, target: string, now = new Date()): MigrationRecord {
  const at = now.toISOString();
  return { kind: 'zdm-migration-record', version: RECORD_VERSION, id, engine, source, target, createdAt: at, updatedAt: at, steps: {}, made: {}, events: [] };
}

/** Reads and writes migration records in one directory of a host. */
export class RecordStore {
  constructor(
    readonly host: Host,
    readonly dir: string,
  ) {}

  pathOf(id: string): string {
    return `${this.dir}/${id}.json`;
  }

  async read(id: string): Promise<MigrationRecord | undefined> {
    const path = this.pathOf(id);
    if (!(await this.host.exists(path))) return undefined;
    return parseRecord(await this.host.readFile(path), path);
  }

  /** Every record in the directory (the unreadable ones left out). */
  async list(): Promise<MigrationRecord[]> {
    if (!(await this.host.exists(this.dir))) return [];
    const r = await this.host.run(['find', this.dir, '-maxdepth', '1', '-name', '*.json', '-type', 'f']);
    const out: MigrationRecord[] = [];
    for (const path of r.stdout.split('\n').filter(Boolean).sort()) {
      try {
        out.push(parseRecord(await this.host.readFile(path), path));
      } catch {
        // not a record of ours
      }
    }
    return out;
  }

  /** Writes the record whole: a temporary file renamed over the old one, so a crash leaves one or the other. */
  async write(rec: MigrationRecord): Promise<void> {
    await this.ensureDir();
    const path = this.pathOf(rec.id);
    // Unique per write: two runs (or two journals of one process) may write the same record at once.
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await this.host.writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    await this.host.rename(tmp, path);
  }

  async ensureDir(): Promise<void> {
    const r = await this.host.run(['sh', '-c', 'mkdir -p -m 700 "$1" && chmod 700 "$1"', 'sh', this.dir]);
    if (r.code !== 0) throw new Error(`cannot create ${this.dir}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

export function parseRecord(text: string, path: string): MigrationRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const r = v as Partial<MigrationRecord>;
  if (!r || r.kind !== 'zdm-migration-record' || typeof r.id !== 'string' || !Array.isArray(r.events)) throw new Error(`${path} is not a zdm migration record`);
  if (r.version !== RECORD_VERSION) throw new Error(`${path} is a version ${String(r.version)} record; this zdm reads version ${RECORD_VERSION}`);
  r.steps ??= {};
  r.made ??= {};
  return r as MigrationRecord;
}

/** The time of the last entry into `phase`, or undefined. */
export function phaseAt(rec: MigrationRecord, phase: Phase): string | undefined {
  return [...rec.events].reverse().find((e) => e.phase === phase)?.at;
}
