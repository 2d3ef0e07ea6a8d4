/** PostgresEngine: physical streaming replication between two servers of the same major. */
import type { Check, Engine, Fence, Heartbeat, LagSample, ReverseReplication, SeedResult, StepContext, TuningItem, TuningPlan } from '../engine.js';
import { UserError } from '../../errors.js';
import { connectPg, one, quoteIdent, quoteLiteral, rows, type PgClient } from './connect.js';
import { planPostgresTuning, TUNABLE } from './tuning.js';
import { preflightSeed, seedPostgres } from './seed.js';
import { measureLag, startHeartbeat } from './lag.js';
import { cleanupAfterPromotion, fence, finalPosition, promote, unfence, waitApplied } from './cutover.js';
import { prepareReverse, startReverse, teardownReverse } from './reverse.js';

/** The connections and facts every PostgreSQL operation shares. */
export class PgSession {
  private src?: PgClient;
  private tgt?: PgClient;
  constructor(readonly ctx: StepContext) {}

  get inputs() {
    return this.ctx.inputs;
  }

  async source(): Promise<PgClient> {
    if (!this.inputs.sourceUrl) throw new UserError('input source-url is required for this step');
    this.src ??= await connectPg(this.inputs.sourceUrl, { input: 'source-url' });
    return this.src;
  }

  async target(): Promise<PgClient> {
    this.tgt ??= await connectPg(this.inputs.targetUrl, { input: 'target-url' });
    return this.tgt;
  }

  /** Drops a connection that the server has closed (shutdown, promotion) so the next use reconnects. */
  async forget(which: 'source' | 'target'): Promise<void> {
    const c = which === 'source' ? this.src : this.tgt;
    if (which === 'source') this.src = undefined;
    else this.tgt = undefined;
    await c?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.forget('source'), this.forget('target')]);
  }
}

export class PostgresEngine implements Engine {
  readonly kind = 'postgres' as const;
  readonly s: PgSession;

  constructor(ctx: StepContext) {
    this.s = new PgSession(ctx);
  }

  close(): Promise<void> {
    return this.s.close();
  }

  async planTuning(resources: { memoryBytes: number; cpus: number }): Promise<TuningPlan> {
    const t = await this.s.target();
    const current: Record<string, string> = {};
    for (const r of await rows<{ name: string; v: string }>(t, 'SELECT name, current_setting(name) AS v FROM pg_settings WHERE name = ANY($1)', [TUNABLE])) {
      current[r.name] = r.v;
    }
    const { data_directory } = await one<{ data_directory: string }>(t, 'SELECT current_setting($1) AS data_directory', ['data_directory']);
    const free = await this.s.ctx.targetHost.freeBytes(data_directory).catch(() => 20 * 1024 ** 3);
    return { engine: 'postgres', ...resources, items: planPostgresTuning(current, resources.memoryBytes, free) };
  }

  async applyTuning(plan: TuningPlan): Promise<void> {
    await this.alterSystem(plan.items.map((i) => [i.name, i.value]));
  }

  async revertTuning(items: TuningItem[]): Promise<void> {
    await this.alterSystem(items.map((i) => [i.name, i.original]));
  }

  private async alterSystem(pairs: [string, string][]): Promise<void> {
    if (pairs.length === 0) return;
    const t = await this.s.target();
    for (const [name, value] of pairs) {
      if (!(TUNABLE as readonly string[]).includes(name)) throw new UserError(`input tuning names a setting zdm does not manage: ${name}`);
      await t.query(`ALTER SYSTEM SET ${quoteIdent(name)} = ${quoteLiteral(value)}`);
    }
    await t.query('SELECT pg_reload_conf()');
  }

  preflightSeed(): Promise<Check[]> {
    return preflightSeed(this.s);
  }

  seed(plan: TuningPlan | undefined): Promise<SeedResult> {
    return seedPostgres(this.s, plan);
  }

  startHeartbeat(): Promise<Heartbeat> {
    return startHeartbeat(this.s);
  }

  measureLag(): Promise<LagSample> {
    return measureLag(this.s);
  }

  fence(): Promise<Fence> {
    return fence(this.s);
  }

  finalPosition(f: Fence): Promise<string> {
    return finalPosition(this.s, f);
  }

  waitApplied(position: string, timeoutMs: number): Promise<void> {
    return waitApplied(this.s, position, timeoutMs);
  }

  promote(f: Fence): Promise<void> {
    return promote(this.s, f);
  }

  unfence(f: Fence): Promise<void> {
    return unfence(this.s, f);
  }

  cleanupAfterPromotion(): Promise<string[]> {
    return cleanupAfterPromotion(this.s);
  }

  endpoint(): string {
    const u = this.s.inputs.targetUrl;
    return this.s.inputs.endpoint || `${u.hostname}:${u.port || 5432}`;
  }

  prepareReverse(): Promise<unknown> {
    return prepareReverse(this.s);
  }

  startReverse(prepared: unknown, f: Fence, finalPos: string): Promise<ReverseReplication> {
    return startReverse(this.s, prepared as Awaited<ReturnType<typeof prepareReverse>>, f, finalPos);
  }

  teardownReverse(): Promise<string[]> {
    return teardownReverse(this.s);
  }
}
