import type { StepContext } from '../engine.js';
import { UserError } from '../../errors.js';
import { CUTOVER_NAMES, type Endpoint, type Side, type SideNames } from '../../hosts/endpoint.js';
import { connectPg, type PgClient } from './connect.js';

/** The connections and facts every PostgreSQL operation shares. */
export class PgSession {
  private src?: PgClient;
  private tgt?: PgClient;
  constructor(readonly ctx: StepContext) {}

  get inputs() {
    return this.ctx.inputs;
  }

  /** The side the engine calls its source (rollback: the new primary). Throws when the step has no source-url. */
  get sourceEndpoint(): Endpoint {
    if (!this.ctx.source) throw new UserError('input source-url is required for this step');
    return this.ctx.source;
  }

  get targetEndpoint(): Endpoint {
    return this.ctx.target;
  }

  /** How this step's messages name the sides. */
  get names(): SideNames {
    return this.ctx.names ?? CUTOVER_NAMES;
  }

  /** The endpoint of one side. */
  endpoint(which: Side): Endpoint {
    return which === 'source' ? this.sourceEndpoint : this.targetEndpoint;
  }

  async source(): Promise<PgClient> {
    const e = this.sourceEndpoint;
    this.src ??= await connectPg(e.connectUrl, { input: e.input });
    return this.src;
  }

  async target(): Promise<PgClient> {
    const e = this.targetEndpoint;
    this.tgt ??= await connectPg(e.connectUrl, { input: e.input });
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
