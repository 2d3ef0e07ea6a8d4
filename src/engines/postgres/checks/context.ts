/** What PostgreSQL's seed checks share: the session, and facts read once per run. */
import * as path from 'node:path';
import { rows } from '../connect.js';
import { facts, type ServerFacts } from '../seed.js';
import type { PgSession } from '../session.js';

export type Role = { rolreplication: boolean; rolsuper: boolean; rolcanlogin: boolean };

export class PgCheckContext {
  private readonly memo = new Map<string, Promise<unknown>>();
  constructor(readonly s: PgSession) {}

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

  facts(): Promise<{ sf: ServerFacts; tf: ServerFacts; sMajor: number; tMajor: number }> {
    return this.once('facts', async () => {
      const [sf, tf] = await Promise.all([facts(await this.s.source()), facts(await this.s.target())]);
      return { sf, tf, sMajor: Math.floor(sf.versionNum / 10000), tMajor: Math.floor(tf.versionNum / 10000) };
    });
  }

  /** The target streams from this very source now (a re-run, or a reseed). */
  alreadyReplica(): Promise<boolean> {
    return this.once('alreadyReplica', async () => {
      const { sf, tf } = await this.facts();
      if (!tf.inRecovery) return false;
      const streaming = await rows<{ status: string }>(await this.s.target(), 'SELECT status FROM pg_stat_wal_receiver');
      return tf.sysid === sf.sysid && streaming.some((r) => r.status === 'streaming');
    });
  }

  sourceSettings(): Promise<Record<string, string>> {
    return this.once('sourceSettings', async () =>
      Object.fromEntries(
        (
          await rows<{ name: string; setting: string }>(
            await this.s.source(),
            "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders', 'max_replication_slots')",
          )
        ).map((r) => [r.name, r.setting]),
      ),
    );
  }

  /** replication-user's role on the source (none when it does not exist). */
  replicationRole(): Promise<Role | undefined> {
    return this.once('role', async () => {
      const r = await rows<Role>(await this.s.source(), 'SELECT rolreplication, rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1', [
        this.s.inputs.replicationUser,
      ]);
      return r[0];
    });
  }
}

/** A role that can stream: REPLICATION (or superuser) and LOGIN. */
export const roleUsable = (r: Role | undefined): boolean => Boolean(r && (r.rolreplication || r.rolsuper) && r.rolcanlogin);
