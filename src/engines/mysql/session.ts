import type { StepContext } from '../engine.js';
import { UserError } from '../../errors.js';
import { CUTOVER_NAMES, type Endpoint, type Side, type SideNames } from '../../hosts/endpoint.js';
import { connectMy, one, type MyConn } from './connect.js';
import { detectFlavor, type Flavor } from './flavor.js';

/** The connections and facts every MySQL/MariaDB operation shares. */
export class MySession {
  private src?: MyConn;
  private tgt?: MyConn;
  private flavorOf?: Flavor;
  /** The session that holds FLUSH TABLES WITH READ LOCK during cutover. */
  fenceConn?: MyConn;
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

  async source(): Promise<MyConn> {
    const e = this.sourceEndpoint;
    this.src ??= await connectMy(e.connectUrl, { input: e.input });
    return this.src;
  }

  async target(): Promise<MyConn> {
    const e = this.targetEndpoint;
    this.tgt ??= await connectMy(e.connectUrl, { input: e.input });
    return this.tgt;
  }

  /** The target's flavor (the source's must match it, which preflight checks). */
  async flavor(): Promise<Flavor> {
    if (!this.flavorOf) {
      const { v } = await one<{ v: string }>(await this.target(), 'SELECT VERSION() AS v');
      this.flavorOf = detectFlavor(v);
    }
    return this.flavorOf;
  }

  async forget(which: 'source' | 'target'): Promise<void> {
    const c = which === 'source' ? this.src : this.tgt;
    if (which === 'source') this.src = undefined;
    else this.tgt = undefined;
    await c?.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.forget('source'), this.forget('target'), this.fenceConn?.end().catch(() => undefined)]);
    this.fenceConn = undefined;
  }
}
