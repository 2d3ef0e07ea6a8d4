import type { Inputs } from '../../inputs.js';
import { SideSession } from '../side-session.js';
import { connectPg, type PgClient } from './connect.js';

/** The connections and facts every PostgreSQL operation shares. */
export class PgSession extends SideSession {
  private src?: PgClient;
  private tgt?: PgClient;
  private settled?: Inputs;

  /** The step's inputs, with `fence` as the migration settled it (settleFence). */
  override get inputs(): Inputs {
    return this.settled ?? this.ctx.inputs;
  }

  /**
   * `fence: auto` settled by what the migration turns out to be (logical/cutover.ts: a logical one
   * ends with the read-only fence): every later read of inputs.fence in this session sees it.
   */
  settleFence(mode: Inputs['fence']): void {
    this.settled = { ...this.ctx.inputs, fence: mode };
  }

  async source(): Promise<PgClient> {
    const e = this.sourceEndpoint;
    this.src ??= await connectPg(e.connectUrl, { input: e.input, side: 'source', trips: e.trips });
    return this.src;
  }

  async target(): Promise<PgClient> {
    const e = this.targetEndpoint;
    this.tgt ??= await connectPg(e.connectUrl, { input: e.input, side: 'target', trips: e.trips }).catch((err: unknown) => this.beforeItsDatabase(err));
    return this.tgt;
  }

  /**
   * Before a logical seed has created target-url's database (seedLogical does, like the source's),
   * tune-target, preflight and seed-replica work on the target's server through its postgres database.
   */
  private async beforeItsDatabase(err: unknown): Promise<PgClient> {
    const code = ((err as Error).cause as { code?: string } | undefined)?.code;
    const early = ['tune-target', 'preflight', 'seed-replica'].includes(this.inputs.step);
    if (code !== '3D000' || !early) throw err;
    const e = this.targetEndpoint;
    const db = decodeURIComponent(e.connectUrl.pathname.replace(/^\//, '')) || 'postgres';
    if (db === 'postgres') throw err;
    if (!this.noDatabaseSaid)
      this.ctx.log.info(
        `database "${db}" does not exist on ${this.names.target} yet: a logical seed creates it; until then zdm works through the postgres database`,
      );
    this.noDatabaseSaid = true;
    return connectPg(e.connectUrl, { input: e.input, side: 'target', database: 'postgres' });
  }

  private noDatabaseSaid = false;

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
