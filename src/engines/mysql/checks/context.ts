/** What MySQL/MariaDB's seed checks share: the session, and facts read once per run. */
import * as path from 'node:path';
import type { Host } from '../../../hosts/host.js';
import { one, rows } from '../connect.js';
import { facts, type Facts } from '../seed.js';
import type { MySession } from '../session.js';

export const sameDir = (a: string, b: string): boolean => path.resolve(a) === path.resolve(b);

/** The first of `names` the host has on its PATH. */
export async function toolOn(host: Host, names: string[]): Promise<string | undefined> {
  for (const n of names) {
    const r = await host.run(['/bin/sh', '-c', 'command -v "$0"', n]).catch(() => undefined);
    if (r && r.code === 0) return n;
  }
  return undefined;
}

export class MyCheckContext {
  private readonly memo = new Map<string, Promise<unknown>>();
  constructor(readonly s: MySession) {}

  /** Read on the first call, shared by the checks that follow (one query, not one per check). */
  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (!this.memo.has(key)) this.memo.set(key, read());
    return this.memo.get(key) as Promise<T>;
  }

  /** target-data-dir resolved; undefined when not given (a logical seed needs none, and path.resolve('') would be the working directory). */
  get dataDir(): string | undefined {
    const given = this.s.inputs.targetDataDir;
    return given ? path.resolve(given) : undefined;
  }

  facts(): Promise<{ sf: Facts; tf: Facts }> {
    return this.once('facts', async () => {
      const [sf, tf] = await Promise.all([facts(await this.s.source()), facts(await this.s.target())]);
      return { sf, tf };
    });
  }

  /** The target's replica status row, undefined when it is not configured as a replica. */
  replicaStatus(): Promise<Record<string, unknown> | undefined> {
    return this.once('replica', async () => {
      const { tf } = await this.facts();
      return (await rows(await this.s.target(), tf.flavor.showReplicaStatus))[0];
    });
  }

  /** Data and index bytes on the source: what a copy moves. */
  sourceBytes(): Promise<number> {
    return this.once('bytes', async () => {
      const { bytes } = await one<{ bytes: string }>(
        await this.s.source(),
        'SELECT COALESCE(SUM(data_length + index_length), 0) AS bytes FROM information_schema.TABLES',
      );
      return Number(bytes);
    });
  }
}
