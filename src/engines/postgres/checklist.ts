/** What preflight and post-cutover ask of a PostgreSQL server: limits, clock, the new primary's state. */
import type { Inspection, PrimaryState, ServerIdentity, ServerLimits } from '../engine.js';
import { connectPg, one, quoteIdent, rows, type PgClient } from './connect.js';
import type { PgSession } from './session.js';

const on = (which: 'source' | 'target', s: PgSession): Promise<PgClient> => (which === 'source' ? s.source() : s.target());

export async function serverLimits(s: PgSession, which: 'source' | 'target'): Promise<ServerLimits> {
  const r = await one<{ version: string; max: number; reserved: number }>(
    await on(which, s),
    `SELECT current_setting('server_version') AS version, current_setting('max_connections')::int AS max,
            current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved`,
  );
  // PostgreSQL does not block addresses for connections closed before the startup packet.
  return { version: r.version, maxConnections: Number(r.max), reservedConnections: Number(r.reserved), preAuthErrorLimit: Infinity };
}

export async function freshLogin(s: PgSession, which: 'source' | 'target'): Promise<void> {
  const e = s.endpoint(which);
  const c = await connectPg(e.connectUrl, { input: e.input, side: which });
  await c.end();
}

export async function serverNow(s: PgSession, which: 'source' | 'target'): Promise<number> {
  const { ms } = await one<{ ms: number }>(await on(which, s), 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms');
  return Number(ms);
}

export async function newPrimaryState(s: PgSession): Promise<PrimaryState> {
  const t = await s.target();
  const r = await one<{ rec: boolean; dro: string; fsync: string; sc: string; fpw: string }>(
    t,
    `SELECT pg_is_in_recovery() AS rec, current_setting('default_transaction_read_only') AS dro, current_setting('fsync') AS fsync,
            current_setting('synchronous_commit') AS sc, current_setting('full_page_writes') AS fpw`,
  );
  let notWritable: string | undefined;
  if (r.rec)
    notWritable =
      'the server is still in recovery (a standby): it was not promoted. Run cutover, or SELECT pg_promote() if cutover reported a promotion it could not confirm.';
  else if (r.dro === 'on')
    notWritable =
      "default_transaction_read_only is on: the application's transactions are read-only. ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();";
  else {
    // Taking a transaction id proves the server grants a read-write transaction; nothing is written.
    try {
      await t.query('BEGIN READ WRITE');
      await t.query('SELECT txid_current()');
    } catch (e) {
      notWritable = `a read-write transaction failed: ${(e as Error).message}`;
    } finally {
      await t.query('ROLLBACK').catch(() => undefined);
    }
  }
  const durability = [
    { name: 'fsync', value: r.fsync, durable: r.fsync === 'on', fix: 'Set fsync = on (ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf();)' },
    {
      name: 'synchronous_commit',
      value: r.sc,
      durable: r.sc !== 'off',
      fix: 'Set synchronous_commit = on (ALTER SYSTEM SET synchronous_commit = on; SELECT pg_reload_conf();), and for the application roles too',
    },
    {
      name: 'full_page_writes',
      value: r.fpw,
      durable: r.fpw === 'on',
      fix: 'Set full_page_writes = on (ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();)',
    },
  ];
  // A role or database setting beats the server's: the application's role may commit without waiting for the WAL flush.
  const overrides = await rows<{ role: string | null; db: string | null }>(
    t,
    `SELECT r.rolname AS role, d.datname AS db
       FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
      WHERE 'synchronous_commit=off' = ANY(s.setconfig)`,
  );
  if (overrides.length) {
    const who = (o: { role: string | null; db: string | null }) => [o.role && `role ${o.role}`, o.db && `database ${o.db}`].filter(Boolean).join(' in ');
    const reset = (o: { role: string | null; db: string | null }) =>
      o.role
        ? `ALTER ROLE ${quoteIdent(o.role)}${o.db ? ` IN DATABASE ${quoteIdent(o.db)}` : ''} RESET synchronous_commit`
        : `ALTER DATABASE ${quoteIdent(o.db!)} RESET synchronous_commit`;
    durability.push({
      name: 'synchronous_commit of roles/databases',
      value: `off for ${overrides.map(who).join(', ')}`,
      durable: false,
      fix: `Reset it: ${overrides.map(reset).join('; ')}`,
    });
  }
  const replicas = (
    await rows<{ name: string; addr: string; state: string }>(
      t,
      "SELECT coalesce(nullif(application_name, ''), usename::text, '?') AS name, coalesce(host(client_addr), 'local') AS addr, state FROM pg_stat_replication",
    )
  ).map((x) => ({ name: `${x.name}@${x.addr} (${x.state})`, streaming: x.state === 'streaming' }));
  return { notWritable, durability, replicas };
}

/** What preflight, the checklist and post-cutover read of either side. */
export function pgInspection(s: PgSession): Inspection {
  return {
    serverLimits: (which) => serverLimits(s, which),
    freshLogin: (which) => freshLogin(s, which),
    serverNow: (which) => serverNow(s, which),
    newPrimaryState: () => newPrimaryState(s),
    identity: (which) => identity(s, which),
    sourceSize: async () =>
      Number(
        (await one<{ n: string }>(await s.source(), 'SELECT coalesce(sum(pg_database_size(datname)), 0)::text AS n FROM pg_database WHERE datallowconn')).n,
      ),
    readSample: async (bytes) => {
      await (await s.source()).query('SELECT repeat($1::text, $2) AS x', ['x', bytes]);
    },
  };
}

export async function identity(s: PgSession, which: 'source' | 'target'): Promise<ServerIdentity> {
  const r = await one<{ id: string; version: string; addr: string | null; port: number | null }>(
    await on(which, s),
    `SELECT system_identifier::text AS id, current_setting('server_version') AS version, host(inet_server_addr()) AS addr, inet_server_port() AS port
       FROM pg_control_system()`,
  );
  const host = r.addr ? `${r.addr}:${r.port}` : `local socket ${current(s, which)}`;
  return { idName: 'system_identifier', id: r.id, version: r.version, host };
}

const current = (s: PgSession, which: 'source' | 'target'): string => s.endpoint(which).connectUrl.hostname;
