/** The target host: standby settings in its configuration, room for the copy, a writable parent directory, pg_basebackup. */
import { verdict, type CheckUnit } from '../../../checks/check.js';
import { dataDirWritableCheck, diskSpaceCheck } from '../../../checks/target-dir.js';
import { one, rows } from '../connect.js';
import { findPgProgram } from '../programs.js';
import { STANDBY_MINIMUMS } from '../tuning.js';
import type { PgCheckContext } from './context.js';

/** The target keeps its own configuration across the copy (target-config.ts), wherever it lives. */
export const standbySettings: CheckUnit<PgCheckContext> = {
  id: 'standby-settings',
  title: 'standby settings',
  scopes: ['seed'],
  async run(c) {
    const { tf } = await c.facts();
    const [src, tgt] = await Promise.all(
      [await c.s.source(), await c.s.target()].map((conn) =>
        rows<{ name: string; setting: string }>(conn, 'SELECT name, setting FROM pg_settings WHERE name = ANY($1)', [STANDBY_MINIMUMS]),
      ),
    );
    const tv = Object.fromEntries(tgt.map((r) => [r.name, Number(r.setting)]));
    const low = src.filter((r) => (tv[r.name] ?? 0) < Number(r.setting)).map((r) => `${r.name} = ${tv[r.name]} (source: ${r.setting})`);
    return verdict(
      low.length === 0,
      low.length === 0
        ? 'target >= source'
        : `a standby needs these at least as large as on the source: ${low.join(', ')}. Raise them in the target's ${tf.configFile}.`,
    );
  },
};

export const diskSpace = diskSpaceCheck<PgCheckContext>(async (c) => {
  const { bytes } = await one<{ bytes: string }>(
    await c.s.source(),
    'SELECT (SELECT sum(pg_database_size(oid)) FROM pg_database) + coalesce((SELECT sum(size) FROM pg_ls_waldir()), 0) AS bytes',
  );
  return Math.ceil(Number(bytes) * 1.1);
});

export const dataDirWritable = dataDirWritableCheck<PgCheckContext>((c) => `seed-replica replaces ${c.dataDir} there`);

export const basebackup: CheckUnit<PgCheckContext> = {
  id: 'pg-basebackup',
  title: 'pg_basebackup',
  scopes: ['seed'],
  async run(c) {
    const { sMajor } = await c.facts();
    const bin = await findPgProgram(c.s.ctx.targetHost, sMajor, 'pg_basebackup');
    return verdict(Boolean(bin), bin ?? `pg_basebackup ${sMajor} not found on the target host: install postgresql-client-${sMajor}.`);
  },
};
