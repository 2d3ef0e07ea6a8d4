/** PostgresEngine: physical streaming replication between two servers of the same major. */
import type {
  Engine,
  Fence,
  Heartbeat,
  LagSample,
  MigrationState,
  PrimaryState,
  ReverseReplication,
  SeedResult,
  ServerLimits,
  SwitchLock,
  WritesAfterFence,
  StepContext,
  TuningItem,
  TuningPlan,
  TuningResources,
} from '../engine.js';
import type { Note } from '../../notes.js';
import { diskType } from '../../tuning/disk.js';
import { UserError } from '../../errors.js';
import { one, quoteIdent, quoteLiteral, rows } from './connect.js';
import { planPostgresTuning, TUNABLE } from './tuning.js';
import { seedPostgres } from './seed.js';
import { pgChecks } from './checks/index.js';
import type { CheckUnit } from '../../checks/check.js';
import { measureLag, startHeartbeat } from './lag.js';
import { migrationState } from './state.js';
import { cleanupAfterPromotion, fence, finalPosition, promote, unfence, waitApplied, type PgFenceUndo } from './cutover.js';
import { freshLogin, newPrimaryState, serverLimits, serverNow } from './checklist.js';
import { PgVerifier } from './verify.js';
import type { TableVerifier } from '../../verify/types.js';
import { prepareReverse, startReverse, teardownReverse, type ReversePlan } from './reverse.js';
import { PgSession } from './session.js';
import { forMethod, isLogicalTarget, pgMethod } from './logical/method.js';
import { seedLogical } from './logical/seed.js';
import { measureLogicalLag } from './logical/lag.js';
import {
  durabilityNotes,
  logicalCleanup,
  logicalFinalPosition,
  logicalPromote,
  logicalWaitApplied,
  refuseLogicalReverse,
  refuseShutdownFence,
} from './logical/cutover.js';
import { lockSwitch, recordedFenceStart, recordFenceStart, writesAfterFence } from './switch-guard.js';

export { PgSession };

export class PostgresEngine implements Engine<PgFenceUndo, ReversePlan> {
  readonly kind = 'postgres' as const;
  readonly s: PgSession;

  constructor(ctx: StepContext) {
    this.s = new PgSession(ctx);
  }

  close(): Promise<void> {
    return this.s.close();
  }

  readonly tunable = TUNABLE;

  async planTuning(r: TuningResources): Promise<TuningPlan> {
    const t = await this.s.target();
    const current: Record<string, string> = {};
    const persisted = new Set<string>();
    const settings = await rows<{ name: string; v: string; sourcefile: string | null }>(
      t,
      'SELECT name, current_setting(name) AS v, sourcefile FROM pg_settings WHERE name = ANY($1)',
      [TUNABLE],
    );
    for (const row of settings) {
      current[row.name] = row.v;
      if (row.sourcefile?.endsWith('/postgresql.auto.conf')) persisted.add(row.name);
    }
    const { data_directory } = await one<{ data_directory: string }>(t, 'SELECT current_setting($1) AS data_directory', ['data_directory']);
    const host = this.s.ctx.targetHost;
    const free = await host.freeBytes(data_directory).catch(() => 20 * 1024 ** 3);
    const disk = r.disk ?? (await diskType(host, data_directory));
    const items = planPostgresTuning(current, { memoryBytes: r.memoryBytes, cpus: r.cpus, disk, freeDiskBytes: free }, r.overrides);
    for (const i of items) if (persisted.has(i.name)) i.persistedOriginal = true;
    return { engine: 'postgres', memoryBytes: r.memoryBytes, cpus: r.cpus, disk, items };
  }

  async applyTuning(plan: TuningPlan): Promise<void> {
    if (plan.items.length === 0) return;
    const t = await this.s.target();
    for (const i of plan.items) {
      await t.query(`ALTER SYSTEM SET ${this.managed(i.name)} = ${quoteLiteral(i.value)}`).catch((e: Error) => {
        throw new UserError(
          `the target refused ${i.name} = ${i.value}: ${e.message}${i.reason.startsWith('set by tuning-overrides') ? '. Correct it in tuning-overrides' : ''}`,
          { cause: e },
        );
      });
    }
    await t.query('SELECT pg_reload_conf()');
  }

  /**
   * Removes zdm's ALTER SYSTEM lines (or sets back an original that was itself set by ALTER
   * SYSTEM), reloads, and checks that each live setting reads its original again. Where the
   * configuration files now say otherwise (a seeded copy carries the source's), the original is
   * set explicitly. Settings that need a restart return to their original at the next start.
   */
  async revertTuning(items: TuningItem[]): Promise<void> {
    if (items.length === 0) return;
    const t = await this.s.target();
    for (const i of items) {
      const name = this.managed(i.name);
      await t.query(i.persistedOriginal ? `ALTER SYSTEM SET ${name} = ${quoteLiteral(i.original)}` : `ALTER SYSTEM RESET ${name}`);
    }
    await t.query('SELECT pg_reload_conf()');
    const live = items.filter((i) => i.applies === 'reload');
    const differ = await this.waitSettings(live);
    if (differ.length === 0) return;
    for (const i of differ) await t.query(`ALTER SYSTEM SET ${this.managed(i.name)} = ${quoteLiteral(i.original)}`);
    await t.query('SELECT pg_reload_conf()');
    const still = await this.waitSettings(differ);
    if (still.length > 0)
      throw new UserError(
        `could not restore ${still.map((i) => `${i.name}=${i.original}`).join(', ')} on the target: check its configuration files and server log`,
      );
  }

  /** The items whose live value still differs from the original after a reload (polled for up to 3 s). */
  private async waitSettings(items: TuningItem[]): Promise<TuningItem[]> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const t = await this.s.target();
      const now = await rows<{ name: string; v: string }>(t, 'SELECT name, current_setting(name) AS v FROM pg_settings WHERE name = ANY($1)', [
        items.map((i) => i.name),
      ]);
      const v = new Map(now.map((r) => [r.name, r.v]));
      const differ = items.filter((i) => v.get(i.name) !== i.original);
      if (differ.length === 0 || Date.now() > deadline) return differ;
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  private managed(name: string): string {
    if (!(TUNABLE as readonly string[]).includes(name)) throw new UserError(`input tuning names a setting zdm does not manage: ${name}`);
    return quoteIdent(name);
  }

  checks(): CheckUnit[] {
    return forMethod(this.s, pgChecks(this.s));
  }

  async seed(plan: TuningPlan | undefined): Promise<SeedResult> {
    return (await pgMethod(this.s)).method === 'logical' ? seedLogical(this.s) : seedPostgres(this.s, plan);
  }

  startHeartbeat(): Promise<Heartbeat> {
    return startHeartbeat(this.s);
  }

  async measureLag(): Promise<LagSample> {
    return (await isLogicalTarget(this.s)) ? measureLogicalLag(this.s) : measureLag(this.s);
  }

  migrationState(): Promise<MigrationState> {
    return migrationState(this.s);
  }

  async fence(resume = false): Promise<Fence<PgFenceUndo>> {
    if (await isLogicalTarget(this.s)) refuseShutdownFence(this.s);
    return fence(this.s, resume);
  }

  async finalPosition(f: Fence<PgFenceUndo>): Promise<string> {
    return (await isLogicalTarget(this.s)) ? logicalFinalPosition(this.s, f) : finalPosition(this.s, f);
  }

  async waitApplied(position: string, timeoutMs: number): Promise<void> {
    return (await isLogicalTarget(this.s)) ? logicalWaitApplied(this.s, position, timeoutMs) : waitApplied(this.s, position, timeoutMs);
  }

  async promote(f: Fence<PgFenceUndo>): Promise<void> {
    return (await isLogicalTarget(this.s)) ? logicalPromote(this.s, f) : promote(this.s, f);
  }

  unfence(f: Fence<PgFenceUndo>): Promise<void> {
    return unfence(this.s, f);
  }

  async cleanupAfterPromotion(): Promise<Note[]> {
    const l = await logicalCleanup(this.s);
    return [...l.notes, ...(l.logical ? await durabilityNotes(this.s) : await cleanupAfterPromotion(this.s))];
  }

  lockSwitch(step: 'cutover' | 'rollback'): Promise<SwitchLock> {
    return lockSwitch(this.s, step);
  }

  recordFenceStart(step: 'cutover' | 'rollback', at: number): Promise<void> {
    return recordFenceStart(this.s, step, at);
  }

  recordedFenceStart(step: 'cutover' | 'rollback'): Promise<number | undefined> {
    return recordedFenceStart(this.s, step);
  }

  writesAfterFence(f: Fence<PgFenceUndo>, finalPosition: string): Promise<WritesAfterFence> {
    return writesAfterFence(this.s, f, finalPosition);
  }

  primaryCheckHint(): string {
    return 'SELECT pg_is_in_recovery() returns false';
  }

  endpoint(): string {
    const u = this.s.targetEndpoint.given;
    return this.s.inputs.endpoint || `${u.hostname}:${u.port || 5432}`;
  }

  serverLimits(which: 'source' | 'target'): Promise<ServerLimits> {
    return serverLimits(this.s, which);
  }

  freshLogin(which: 'source' | 'target'): Promise<void> {
    return freshLogin(this.s, which);
  }

  serverNow(which: 'source' | 'target'): Promise<number> {
    return serverNow(this.s, which);
  }

  newPrimaryState(): Promise<PrimaryState> {
    return newPrimaryState(this.s);
  }

  verifier(): TableVerifier {
    return new PgVerifier(this.s.inputs, (side) => this.s.endpoint(side));
  }

  async prepareReverse(): Promise<ReversePlan> {
    if (await isLogicalTarget(this.s)) refuseLogicalReverse(this.s);
    return prepareReverse(this.s);
  }

  startReverse(prepared: ReversePlan, f: Fence<PgFenceUndo>, finalPos: string): Promise<ReverseReplication> {
    return startReverse(this.s, prepared, f, finalPos);
  }

  teardownReverse(): Promise<Note[]> {
    return teardownReverse(this.s);
  }
}
