import type { StepContext } from '../engine.js';
import { UserError } from '../../errors.js';
import { connectPg, type PgClient } from './connect.js';

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
