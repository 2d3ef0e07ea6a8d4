/** MysqlEngine: binlog replication for MySQL 8.0, 8.4 and MariaDB; dialects in flavor.ts. */
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
import { InputError, UserError } from '../../errors.js';
import { diskType } from '../../tuning/disk.js';
import { variables } from './connect.js';
import type { Flavor } from './flavor.js';
import {
  DURABILITY_SETTINGS,
  DURABLE,
  MY_TUNABLE,
  OPTION_FILE_HEADER,
  optionFile,
  planMysqlTuning,
  relaxedInOptionFile,
  revertedOptionFile,
} from './tuning.js';
import { seedWithMethod } from './method.js';
import { myChecks } from './checks/index.js';
import type { CheckUnit } from '../../checks/check.js';
import { measureLag, startHeartbeat } from './lag.js';
import { migrationState } from './state.js';
import { cleanupAfterPromotion, fence, finalPosition, promote, unfence, waitApplied, type MyFenceUndo } from './cutover.js';
import { freshLogin, newPrimaryState, serverLimits, serverNow } from './checklist.js';
import { MyVerifier } from './verify.js';
import { CONFIG_CHECK, configFileCheck, defaultConfigFile } from './option-files.js';
import type { TableVerifier } from '../../verify/types.js';
import { prepareReverse, startReverse, teardownReverse, type ReversePlan } from './reverse.js';
import { MySession } from './session.js';
import { lockSwitch, recordedFenceStart, recordFenceStart, writesAfterFence } from './switch-guard.js';

export { MySession };

export function configFile(s: MySession, flavor: Flavor): string {
  return s.inputs.targetConfigFile || defaultConfigFile(flavor.name);
}

export class MysqlEngine implements Engine<MyFenceUndo, ReversePlan> {
  readonly kind;
  readonly s: MySession;

  constructor(ctx: StepContext) {
    this.kind = ctx.inputs.engine;
    this.s = new MySession(ctx);
  }

  close(): Promise<void> {
    return this.s.close();
  }

  readonly tunable = MY_TUNABLE;

  async planTuning(r: TuningResources): Promise<TuningPlan> {
    const t = await this.s.target();
    const flavor = await this.s.flavor();
    const current = await variables(t, [...MY_TUNABLE, 'datadir', 'pid_file']);
    for (const [name, value] of Object.entries(r.overrides ?? {})) {
      if ((MY_TUNABLE as readonly string[]).includes(name) && !/^\d+$/.test(value))
        throw new InputError(
          'tuning-overrides',
          `gives ${name} the value ${JSON.stringify(value)}: MySQL/MariaDB settings take a whole number (bytes for sizes)`,
        );
    }
    await this.refuseForeignOptionFile();
    await this.refuseUnreadOptionFile(current.pid_file, current.datadir);
    const disk = r.disk ?? (await diskType(this.s.ctx.targetHost, current.datadir));
    const items = planMysqlTuning(current, flavor.name, { memoryBytes: r.memoryBytes, cpus: r.cpus, disk }, r.overrides);
    return { engine: this.kind, memoryBytes: r.memoryBytes, cpus: r.cpus, disk, items };
  }

  async applyTuning(plan: TuningPlan): Promise<void> {
    await this.writeOptionFile(plan.items);
    for (const i of plan.items.filter((x) => x.applies === 'reload')) {
      await this.setGlobals([[i.name, i.value]]).catch((e: Error) => {
        throw new UserError(
          `the target refused ${i.name} = ${i.value}: ${e.message}${i.reason.startsWith('set by tuning-overrides') ? '. Correct it in tuning-overrides' : ''}`,
          { cause: e },
        );
      });
    }
  }

  async revertTuning(items: TuningItem[]): Promise<void> {
    await this.setGlobals(items.filter((i) => i.applies === 'reload').map((i) => [i.name, i.original]));
    // The option file keeps what is not reverted; without anything left it goes.
    const host = this.s.ctx.targetHost;
    const file = configFile(this.s, await this.s.flavor());
    // A durable value that must survive a restart goes into zdm's file, even one deleted since.
    const before = (await host.exists(file)) ? await host.readFile(file) : `${OPTION_FILE_HEADER}\n[mysqld]\n`;
    if (!before.startsWith(OPTION_FILE_HEADER)) {
      this.s.ctx.log.warn(`${file} is not the option file zdm wrote (it was replaced since tune-target): left as it is`);
      return;
    }
    const text = revertedOptionFile(before, items);
    try {
      if (text !== undefined) await host.writeFile(file, text, { mode: 0o644 });
      else if (await host.exists(file)) await host.remove(file);
    } catch (e) {
      const durable = items.filter((i) => i.persistedOriginal).map((i) => `${i.name} = ${i.original}`);
      this.s.ctx.log.warn(
        `could not update zdm's option file ${file} (${(e as Error).message}): the restored values hold until the server restarts${durable.length ? `. Put ${durable.join(', ')} into the server's configuration` : ''}`,
      );
    }
  }

  async relaxedDurability(): Promise<TuningItem[]> {
    const host = this.s.ctx.targetHost;
    const file = configFile(this.s, await this.s.flavor());
    if (!(await host.exists(file))) return [];
    const text = await host.readFile(file);
    if (!text.startsWith(OPTION_FILE_HEADER)) return [];
    const persisted = relaxedInOptionFile(text);
    const current = await variables(await this.s.target(), [...DURABILITY_SETTINGS]);
    return DURABILITY_SETTINGS.filter((n) => persisted.has(n) || current[n] !== DURABLE).map((name) => ({
      name,
      original: DURABLE,
      value: current[name],
      reason: `relaxed by zdm's option file ${file}; without a tuning input cutover sets the durable value`,
      applies: 'reload',
      relaxesDurability: true,
      revertAtCutover: true,
      // What the server's own configuration says is unknown here: the durable value stays in zdm's file.
      persistedOriginal: true,
    }));
  }

  /** tune-target owns its option file: it never overwrites (and revert never edits) a file of the user's. */
  private async refuseForeignOptionFile(): Promise<void> {
    const host = this.s.ctx.targetHost;
    const file = configFile(this.s, await this.s.flavor());
    if ((await host.exists(file)) && !(await host.readFile(file)).startsWith(OPTION_FILE_HEADER)) {
      throw new InputError(
        'target-config-file',
        `names ${file}, which exists and was not written by zdm: tune-target would replace it. Name a file of zdm's own in a directory the server includes (!includedir), e.g. 99-zdm-migration.cnf. Nothing was changed.`,
      );
    }
  }

  /** A file the server never reads would lose the profile (and the durable values cutover keeps) at the next restart. */
  private async refuseUnreadOptionFile(pidFile: string, dataDir: string): Promise<void> {
    const file = configFile(this.s, await this.s.flavor());
    const c = await configFileCheck(this.s.ctx.targetHost, file, pidFile, dataDir, false);
    if (c.status === 'fail') throw new InputError('target-config-file', `names a file the server does not read: ${c.detail} Nothing was changed.`);
    if (c.status === 'warn') this.s.ctx.log.warn(`${CONFIG_CHECK}: ${c.detail}`);
  }

  private async writeOptionFile(items: TuningItem[]): Promise<void> {
    if (items.length === 0) return;
    const file = configFile(this.s, await this.s.flavor());
    try {
      await this.s.ctx.targetHost.writeFile(file, optionFile(items), { mode: 0o644 });
    } catch (e) {
      throw new UserError(
        `cannot write the option file ${file} on the target (${(e as Error).message}): set target-config-file to a file the server reads (an !includedir directory of its configuration)`,
        { cause: e },
      );
    }
  }

  private async setGlobals(pairs: [string, string][]): Promise<void> {
    const t = await this.s.target();
    for (const [name, value] of pairs) {
      if (!(MY_TUNABLE as readonly string[]).includes(name)) throw new UserError(`input tuning names a setting zdm does not manage: ${name}`);
      if (!/^\d+$/.test(value)) throw new UserError(`input tuning has a value zdm did not write for ${name}: ${JSON.stringify(value)}`);
      await t.query(`SET GLOBAL ${name} = ${value}`);
    }
  }

  checks(): CheckUnit[] {
    return myChecks(this.s);
  }

  seed(plan: TuningPlan | undefined): Promise<SeedResult> {
    return seedWithMethod(this.s, plan);
  }

  startHeartbeat(): Promise<Heartbeat> {
    return startHeartbeat(this.s);
  }

  measureLag(): Promise<LagSample> {
    return measureLag(this.s);
  }

  migrationState(): Promise<MigrationState> {
    return migrationState(this.s);
  }

  fence(resume = false): Promise<Fence<MyFenceUndo>> {
    return fence(this.s, resume);
  }

  finalPosition(f: Fence<MyFenceUndo>): Promise<string> {
    return finalPosition(this.s, f);
  }

  waitApplied(position: string, timeoutMs: number): Promise<void> {
    return waitApplied(this.s, position, timeoutMs);
  }

  promote(f: Fence<MyFenceUndo>): Promise<void> {
    return promote(this.s, f);
  }

  unfence(f: Fence<MyFenceUndo>): Promise<void> {
    return unfence(this.s, f);
  }

  cleanupAfterPromotion(): Promise<Note[]> {
    return cleanupAfterPromotion(this.s);
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

  writesAfterFence(f: Fence<MyFenceUndo>, finalPosition: string): Promise<WritesAfterFence> {
    return writesAfterFence(this.s, f, finalPosition);
  }

  primaryCheckHint(): string {
    return 'SHOW REPLICA STATUS returns no row and SELECT @@read_only returns 0';
  }

  endpoint(): string {
    const u = this.s.targetEndpoint.given;
    return this.s.inputs.endpoint || `${u.hostname}:${u.port || 3306}`;
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
    return new MyVerifier(this.s.inputs, (side) => this.s.endpoint(side));
  }

  prepareReverse(): Promise<ReversePlan> {
    return prepareReverse(this.s);
  }

  startReverse(prepared: ReversePlan, f: Fence<MyFenceUndo>, finalPos: string): Promise<ReverseReplication> {
    return startReverse(this.s, prepared, f, finalPos);
  }

  teardownReverse(): Promise<Note[]> {
    return teardownReverse(this.s);
  }
}
