import { SideSession } from '../side-session.js';
import { connectMy, one, type MyConn } from './connect.js';
import { detectFlavor, type Flavor } from './flavor.js';

/** The connections and facts every MySQL/MariaDB operation shares. */
export class MySession extends SideSession {
  private src?: MyConn;
  private tgt?: MyConn;
  private flavorOf?: Flavor;
  /** The session that holds FLUSH TABLES WITH READ LOCK during cutover. */
  fenceConn?: MyConn;

  async source(): Promise<MyConn> {
    const e = this.sourceEndpoint;
    this.src ??= await connectMy(e.connectUrl, { input: e.input, side: 'source' });
    return this.src;
  }

  async target(): Promise<MyConn> {
    const e = this.targetEndpoint;
    this.tgt ??= await connectMy(e.connectUrl, { input: e.input, side: 'target' });
    return this.tgt;
  }

  /** The target's flavor (the source's must match it, which preflight checks). */
  async flavor(): Promise<Flavor> {
    if (!this.flavorOf) {
      // The target when it is up; a target stopped (abort, status) leaves the source to tell (preflight checks they match).
      const c = await this.target().catch((e: unknown) => this.source().catch(() => Promise.reject(e)));
      const { v } = await one<{ v: string }>(c, 'SELECT VERSION() AS v');
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
