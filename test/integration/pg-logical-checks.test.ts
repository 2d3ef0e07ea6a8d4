/**
 * PostgreSQL's logical-method checks on real servers of two majors (source 13, target 17), with no
 * SSH and no source stop command: a table without a key is refused with its fix (or gets REPLICA
 * IDENTITY FULL when asked), a large object is refused, unlogged tables are named, an extension the
 * target lacks is refused by name, wal_level and a non-superuser role's missing privileges are each
 * named with their fix; the DDL guard names each change made on the source after the seed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bind, inScope, runChecks, type CheckResult } from '../../src/checks/check.js';
import { openEngine } from '../../src/engines/index.js';
import { PgCheckContext } from '../../src/engines/postgres/checks/context.js';
import { schemaUnchanged } from '../../src/engines/postgres/checks/logical-ddl.js';
import { PgSession } from '../../src/engines/postgres/session.js';
import { applyReplicaIdentityFull, tablesWithoutIdentity } from '../../src/engines/postgres/logical/tables.js';
import { recordSchema, refuseSchemaChanges, schemaChanges } from '../../src/engines/postgres/logical/schema-guard.js';
import { SafetyError } from '../../src/errors.js';
import { withDirectEndpoints } from '../../src/hosts/endpoint.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { startPostgres, type PostgresSandbox } from '../../src/sandbox/postgres.js';

let src: PostgresSandbox;
let tgt: PostgresSandbox;
const quiet = new TextLog(() => undefined);

beforeAll(async () => {
  [src, tgt] = await Promise.all([startPostgres({ major: 13, name: 'lc13', settings: { wal_level: 'logical' } }), startPostgres({ major: 17, name: 'lc17' })]);
  await src.query(`
    CREATE ROLE app_owner NOLOGIN;
    CREATE ROLE migrator LOGIN PASSWORD 'migrator-pw';
    CREATE TABLE orders (id bigserial PRIMARY KEY, note text, total numeric(10,2));
    CREATE TABLE nokey (a int, b text);
    ALTER TABLE orders OWNER TO app_owner;
    ALTER TABLE nokey OWNER TO app_owner;`);
}, 120_000);

afterAll(async () => {
  await Promise.all([src?.destroy(), tgt?.destroy()]);
});

function raw(over: Record<string, string>): (n: string) => string | undefined {
  const all: Record<string, string> = {
    'source-url': src.url(),
    'target-url': tgt.url(),
    'replication-user': 'postgres',
    'replication-password': src.password,
    'target-data-dir': tgt.dataDir,
    method: 'logical',
    ...over,
  };
  return (n) => all[n];
}

const context = (over: Record<string, string>, step: 'preflight' | 'cutover' = 'preflight') => {
  const h = new LocalHost();
  return withDirectEndpoints({ inputs: readInputs(step, raw(over)), log: quiet, targetHost: h, sourceHost: h, runnerHost: h });
};

/** The logical units of the engine's registry, run as seed-replica runs them. */
async function logicalRows(over: Record<string, string> = {}): Promise<CheckResult[]> {
  const engine = openEngine(context(over));
  try {
    const units = inScope(engine.seeding.checks(), 'seed').filter((u) => u.id.startsWith('logical-'));
    return await runChecks(units, { onError: 'fail' });
  } finally {
    await engine.close();
  }
}

/** The rows of the engine's cutover-scope units, as cutover's lag gate runs them before the fence. */
async function cutoverRows(): Promise<CheckResult[]> {
  const engine = openEngine(context({}, 'cutover'));
  try {
    return await runChecks(inScope(engine.seeding.checks(), 'cutover'), { onError: 'fail' });
  } finally {
    await engine.close();
  }
}

/** The DDL unit's rows under another step (rollback runs the same gate, sides swapped). */
async function ddlRowsIn(step: 'preflight'): Promise<CheckResult[]> {
  const session = new PgSession(context({}, step));
  try {
    return await runChecks(bind([schemaUnchanged], new PgCheckContext(session)), { onError: 'fail' });
  } finally {
    await session.close();
  }
}

const row = (rows: CheckResult[], id: string): CheckResult[] => rows.filter((r) => r.id === id);
const statuses = (rows: CheckResult[]) => Object.fromEntries(rows.map((r) => [r.id, r.status]));

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

describe('logical preflight checks (source 13, target 17)', () => {
  it('run only under the logical method (or auto across majors)', async () => {
    expect(await logicalRows({ method: 'physical' })).toEqual([]);
    expect((await logicalRows({ method: 'auto' })).length).toBeGreaterThan(0);
  });

  it('tables: the key-less table left out is no refusal; with method physical, tables is refused', async () => {
    const seedRows = async (over: Record<string, string>) => {
      const engine = openEngine(context(over));
      try {
        return await runChecks(inScope(engine.seeding.checks(), 'seed'), { onError: 'fail' });
      } finally {
        await engine.close();
      }
    };
    const carried = await seedRows({ tables: 'public.*, !public.nokey' });
    expect(row(carried, 'logical-replica-identity').map((r) => r.status)).toEqual(['ok']);
    expect(row(carried, 'tables-filter')).toMatchObject([{ status: 'ok', detail: expect.stringContaining('left out: public.nokey') }]);
    const physical = await seedRows({ tables: 'public.orders', method: 'physical' });
    expect(row(physical, 'tables-filter')).toMatchObject([{ status: 'fail', detail: expect.stringMatching(/only method: logical can do/) }]);
    expect(row(await seedRows({}), 'tables-filter')).toEqual([]);
  });

  it('a table without a key is refused, with its fix; everything else passes', async () => {
    const rows = await logicalRows();
    expect(statuses(rows)).toEqual({
      'logical-wal-level': 'ok',
      'logical-slot': 'ok',
      'logical-wal-sender': 'ok',
      'logical-publication-privileges': 'ok',
      'logical-streaming-role': 'ok',
      'logical-replica-identity': 'fail',
      'logical-large-objects': 'ok',
      'logical-unlogged-tables': 'ok',
      'logical-extensions': 'ok',
    });
    const [identity] = row(rows, 'logical-replica-identity');
    expect(identity.detail).toContain('public.nokey');
    expect(identity.detail).not.toContain('public.orders');
    expect(identity.detail).toContain('ADD PRIMARY KEY');
    expect(identity.detail).toContain('replica-identity-full: true');
  });

  it('replica-identity-full: true warns naming the tables, and applyReplicaIdentityFull sets FULL on them', async () => {
    const [warned] = row(await logicalRows({ 'replica-identity-full': 'true' }), 'logical-replica-identity');
    expect(warned.status).toBe('warn');
    expect(warned.detail).toContain('REPLICA IDENTITY FULL');
    expect(warned.detail).toContain('public.nokey');
    const c = await client(src.url());
    try {
      const lines = await applyReplicaIdentityFull(c, await tablesWithoutIdentity(c));
      expect(lines).toEqual([expect.stringContaining('REPLICA IDENTITY FULL set on public.nokey')]);
      expect(await tablesWithoutIdentity(c)).toEqual([]);
    } finally {
      await c.end();
    }
    expect(row(await logicalRows(), 'logical-replica-identity')[0].status).toBe('ok');
  });

  it('a large object is refused', async () => {
    const [{ oid }] = await src.query<{ oid: number }>('SELECT lo_create(0) AS oid');
    try {
      const [lo] = row(await logicalRows(), 'logical-large-objects');
      expect(lo.status).toBe('fail');
      expect(lo.detail).toMatch(/1 large object.*bytea/);
    } finally {
      await src.query('SELECT lo_unlink($1)', [oid]);
    }
  });

  it('unlogged tables are named (warning: they arrive empty)', async () => {
    await src.query('CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text)');
    try {
      const [u] = row(await logicalRows(), 'logical-unlogged-tables');
      expect(u.status).toBe('warn');
      expect(u.detail).toContain('public.cache');
      expect(u.detail).toContain('SET LOGGED');
    } finally {
      await src.query('DROP TABLE cache');
    }
  });

  it('an extension the target does not have is refused, naming it', async () => {
    // adminpack ships with 13 and was removed in 17.
    await src.query('CREATE EXTENSION adminpack');
    try {
      const ext = row(await logicalRows(), 'logical-extensions');
      expect(ext.map((r) => r.status)).toEqual(['fail']);
      expect(ext[0].detail).toContain('extension adminpack');
    } finally {
      await src.query('DROP EXTENSION adminpack');
    }
  });

  it('wal_level replica is refused with its fix', async () => {
    const [w] = row(await logicalRows({ 'source-url': tgt.url(), 'target-url': src.url() }), 'logical-wal-level');
    expect(w.status).toBe('fail');
    expect(w.detail).toContain('wal_level = logical');
  });

  it('a role without superuser, SSH or stop command: each missing privilege is named with its fix, then passes once granted', async () => {
    const asMigrator = {
      'source-url': src.url({ user: 'migrator', password: 'migrator-pw' }),
      'replication-user': 'migrator',
      'replication-password': 'migrator-pw',
    };
    const before = await logicalRows(asMigrator);
    const pub = row(before, 'logical-publication-privileges').map((r) => r.detail);
    expect(pub).toEqual([expect.stringContaining('GRANT CREATE ON DATABASE postgres TO migrator'), expect.stringContaining('GRANT app_owner TO migrator')]);
    expect(pub[1]).toContain('public.orders (owner app_owner)');
    const stream = row(before, 'logical-streaming-role').map((r) => r.detail);
    expect(stream).toEqual([expect.stringContaining('ALTER ROLE migrator WITH LOGIN REPLICATION'), expect.stringContaining('GRANT SELECT')]);
    expect(stream[1]).toContain('public.nokey');
    // source-url's role cannot replicate, so the subscription would log in as replication-user: the rows say which.
    expect(stream[0]).toContain('role "migrator" (replication-user)');

    await src.query('GRANT CREATE ON DATABASE postgres TO migrator; GRANT app_owner TO migrator; ALTER ROLE migrator REPLICATION');
    const after = await logicalRows(asMigrator);
    expect(after.filter((r) => r.status !== 'ok')).toEqual([]);
    expect(row(after, 'logical-streaming-role')[0].detail).toContain('LOGIN REPLICATION');
  });
});

describe('DDL guard', () => {
  let s: pg.Client;
  let t: pg.Client;
  beforeAll(async () => {
    [s, t] = await Promise.all([client(src.url()), client(tgt.url())]);
  });
  afterAll(async () => {
    await Promise.all([s?.end(), t?.end()]);
  });

  it('without a recorded schema, cutover is refused (nothing proven)', async () => {
    expect(await schemaChanges(s, t)).toEqual([expect.stringContaining('no schema fingerprint on the target')]);
  });

  it('no DDL after recordSchema: no change, and the cutover check passes', async () => {
    await recordSchema(s, t);
    // zdm's own heartbeat table, created on the source after the seed, is no change of the schema.
    await s.query('CREATE TABLE public.zdm_heartbeat (id int PRIMARY KEY, ts timestamptz NOT NULL, seq bigint NOT NULL)');
    expect(await schemaChanges(s, t)).toEqual([]);
    await refuseSchemaChanges(s, t);
    const rows = await cutoverRows();
    expect(rows.map((r) => [r.id, r.status])).toEqual([['logical-schema-unchanged', 'ok']]);
  });

  it('DDL on the source after recordSchema is named, change by change, and refuses cutover', async () => {
    await s.query(`
      ALTER TABLE orders ADD COLUMN gift_note text;
      ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);
      CREATE INDEX orders_note_idx ON orders (note);
      CREATE TABLE extra (id int PRIMARY KEY, v text);
      DROP TABLE nokey;
      CREATE SEQUENCE invoice_no;`);
    expect(await schemaChanges(s, t)).toEqual([
      'table public.extra added (plain, replica identity default)',
      'sequence public.invoice_no added (bigint increment 1 min 1 max 9223372036854775807)',
      'table public.nokey dropped (was plain, replica identity full)',
      'column public.orders.gift_note added (text)',
      'column public.orders.total changed (numeric(10,2) -> numeric(12,2))',
      'index public.orders_note_idx added (CREATE INDEX orders_note_idx ON public.orders USING btree (note))',
    ]);
    await expect(refuseSchemaChanges(s, t)).rejects.toThrow(SafetyError);
    await expect(refuseSchemaChanges(s, t)).rejects.toThrow(/column public\.orders\.gift_note added \(text\)/);
    const [cut] = await cutoverRows();
    expect(cut.status).toBe('fail');
    expect(cut.detail).toContain('column public.orders.gift_note added (text)');
    expect(cut.detail).toContain('Nothing was switched');
    expect(await ddlRowsIn('preflight')).toEqual([]);
  });

  it('a physical migration (no subscription, no fingerprint on the target) gets no DDL row', async () => {
    await t.query('DROP TABLE zdm.schema_fingerprint');
    expect(await cutoverRows()).toEqual([]);
  });
});
