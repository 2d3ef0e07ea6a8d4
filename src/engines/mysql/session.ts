import type { StepContext } from '../engine.js';
import { UserError } from '../../errors.js';
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

  async source(): Promise<MyConn> {
    if (!this.inputs.sourceUrl) throw new UserError('input source-url is required for this step');
    this.src ??= await connectMy(this.inputs.sourceUrl, { input: 'source-url' });
    return this.src;
  }

  async target(): Promise<MyConn> {
    this.tgt ??= await connectMy(this.inputs.targetUrl, { input: 'target-url' });
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
