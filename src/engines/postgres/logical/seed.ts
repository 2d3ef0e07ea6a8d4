/**
 * The logical seed: the source's roles and schema on the target, a publication of every table on
 * the source, and a subscription on the target that copies the rows and then streams the changes.
 *
 * Why no row falls between the copy and the stream: CREATE SUBSCRIPTION creates the slot on the
 * source, and the slot's consistent point is where the stream starts. Each table is then copied by
 * a table-sync worker inside the snapshot of a slot of its own, and that worker applies the
 * table's changes from its snapshot up to the main stream's position before it hands the table to
 * the apply worker (states d → f → s → r in pg_subscription_rel). Every change is therefore either
 * in a table's copy or applied from the stream, once. The seed waits until every table is 'r'.
 */
import { promises as fs } from 'node:fs';
import type { SeedResult } from '../../engine.js';
import { capitalized } from '../../../hosts/endpoint.js';
import { SafetyError, UserError, describeError } from '../../../errors.js';
import { Progress, formatBytes, formatSeconds, transferProgress } from '../../../log.js';
import { connectPg, one, quoteIdent, quoteLiteral, quoteQualified, rows, type PgClient } from '../connect.js';
import { subscriptionTls, tlsKeywords } from '../conninfo.js';
import { ensureHeartbeatTable } from '../lag.js';
import { replicationAddress } from '../seed.js';
import type { PgSession } from '../session.js';
import { guardTarget } from './guard.js';
import { carried, dumpPattern, excludedTables, tableSelection } from './selection.js';
import { listNames, tableLabel } from './tables.js';
import { keepSchema, schemaBeforeDump } from './ddl-hooks.js';
import { logicalName, subscription } from './method.js';
import { copyRoles, dumpDir, dumpSchema, findClientTools, loadSql, schemaAlreadyLoaded, userTables } from './schema.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function seedLogical(s: PgSession): Promise<SeedResult> {
  const { log } = s.ctx;
  const started = Date.now();
  const src = await s.source();
  const owner = await ensureTargetDatabase(s, src);
  const tgt = await s.target();
  const { version, num } = await one<{ version: string; num: string }>(
    src,
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const name = logicalName(s);
  let position: string;
  if (await subscription(s)) {
    // A re-run after a seed that was interrupted while copying: the subscription goes on from where it is.
    log.info(`subscription ${name} exists on ${s.names.target} already: waiting for its copy to finish`);
    position = await slotPosition(src, name);
  } else {
    await ensureHeartbeatTable(s, src, quoteQualified(s.inputs.heartbeatTable));
    await loadSchema(s, Math.floor(Number(num) / 10000));
    if (owner && (await rows(tgt, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [owner])).length)
      await tgt.query(`ALTER DATABASE ${quoteIdent(await targetDatabase(tgt))} OWNER TO ${quoteIdent(owner)}`);
    const guarded = await guardTarget(tgt);
    if (guarded.length) log.info(`${s.names.target} is read-only for ${guarded.join(', ')} until cutover (default_transaction_read_only as a role setting)`);
    await createPublication(s, src, name);
    position = await createSubscription(s, src, tgt, name);
  }
  const bytes = await waitTablesReady(s, tgt, src, name);
  log.info(`every table is copied and ${s.names.target} streams changes from slot ${name} (consistent point ${position})`);
  return { position, seconds: (Date.now() - started) / 1000, bytes, sourceVersion: version };
}

/**
 * target-url's database, created when it does not exist yet: with the source database's encoding,
 * collation and ctype (from template0, as pg_dump --create does), owned by the source's owner when
 * that role exists on the target (else by target-url's user; the roles come with the schema).
 */
async function ensureTargetDatabase(s: PgSession, src: PgClient): Promise<string | undefined> {
  const e = s.targetEndpoint;
  const db = decodeURIComponent(e.connectUrl.pathname.replace(/^\//, '')) || 'postgres';
  const admin = await connectPg(e.connectUrl, { input: e.input, side: 'target', database: 'postgres' });
  try {
    if ((await rows(admin, 'SELECT 1 FROM pg_database WHERE datname = $1', [db])).length) return undefined;
    const d = await one<{ enc: string; coll: string; ctype: string; owner: string }>(
      src,
      'SELECT pg_encoding_to_char(encoding) AS enc, datcollate AS coll, datctype AS ctype, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()',
    );
    const hasOwner = (await rows(admin, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [d.owner])).length > 0;
    await admin.query(
      `CREATE DATABASE ${quoteIdent(db)} TEMPLATE template0 ENCODING ${quoteLiteral(d.enc)} LC_COLLATE ${quoteLiteral(d.coll)} LC_CTYPE ${quoteLiteral(d.ctype)}${hasOwner ? ` OWNER ${quoteIdent(d.owner)}` : ''}`,
    );
    s.ctx.log.info(
      `created database "${db}" on ${s.names.target} (encoding ${d.enc}, collation ${d.coll}${hasOwner ? `, owner ${d.owner}` : ''}), as the source's`,
    );
    // The session's target connection went to the postgres database meanwhile: the next one goes to the new database.
    await s.forget('target');
    // An owner the target lacks yet comes with the roles (loadSchema): it gets the database then.
    return hasOwner ? undefined : d.owner;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function targetDatabase(c: PgClient): Promise<string> {
  return (await one<{ d: string }>(c, 'SELECT current_database() AS d')).d;
}

/** Roles, then the schema (pg_dump --schema-only), into an empty target database. */
async function loadSchema(s: PgSession, sourceMajor: number): Promise<void> {
  const { log } = s.ctx;
  const present = await userTables(await s.target());
  if (present.length && (await schemaAlreadyLoaded(await s.source(), await s.target(), present, tableSelection(s)))) {
    log.info(`${s.names.target} holds the source's ${present.length} table(s), empty: the schema an earlier seed loaded; going on from there`);
    return;
  }
  if (present.length)
    throw new UserError(
      `${s.names.target}'s database already holds tables (${present.slice(0, 5).join(', ')}${present.length > 5 ? ', ...' : ''}): a logical seed loads the source's schema into an empty database. Name an empty database in target-url (CREATE DATABASE ...), or drop these tables. Nothing was changed.`,
    );
  const tools = findClientTools(sourceMajor);
  const dir = await dumpDir();
  try {
    const roles = await copyRoles(s, tools, dir);
    log.info(
      `roles copied to ${s.names.target}: ${roles.created.join(', ') || 'none new'}${roles.passwords ? '' : ' (without passwords: pg_authid cannot be read on the source; set them on the target before cutover)'}`,
    );
    for (const k of roles.skipped) log.warn(`role statement not applied on ${s.names.target}: ${k}`);
    const fingerprint = await schemaBeforeDump(s, await s.source());
    const left = await excludedTables(s, await s.source());
    if (left.length) log.info(`left out by tables: ${s.inputs.tables}: ${listNames(left.map(tableLabel))} (not created on ${s.names.target}, not replicated)`);
    const file = await dumpSchema(s, tools, dir, left.map(dumpPattern));
    await loadSql(s, tools, file, `loading the source's schema into ${s.names.target} (psql ${tools.major})`);
    await keepSchema(await s.target(), fingerprint);
    log.info(`schema loaded into ${s.names.target} (pg_dump ${tools.major} --schema-only)`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** FOR ALL TABLES (superuser, no `tables` input); else FOR TABLE each carried table (the role must own them). */
async function createPublication(s: PgSession, src: PgClient, name: string): Promise<void> {
  await src.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
  if (!tableSelection(s))
    try {
      await src.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR ALL TABLES`);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== '42501') throw publicationError(s, e);
    }
  const all = await rows<{ t: string; label: string }>(
    src,
    "SELECT format('%I.%I', n.nspname, c.relname) AS t, n.nspname || '.' || c.relname AS label FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
  );
  const tables = carried(s, all, (r) => r.label);
  await src.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map((r) => r.t).join(', ')}`).catch((e: unknown) => {
    throw publicationError(s, e);
  });
  const why = tableSelection(s)
    ? `the ${tables.length} of ${all.length} table(s) that tables: ${s.inputs.tables} selects`
    : `the ${tables.length} table(s) one by one (FOR ALL TABLES needs a superuser)`;
  s.ctx.log.info(`publication ${name} lists ${why}: tables created later are not in it`);
}

function publicationError(s: PgSession, e: unknown): UserError {
  return new UserError(
    `creating publication ${logicalName(s)} on ${s.names.source} failed: ${describeError(e)}. The ${s.sourceEndpoint.input} role must be a superuser, or own every table (FOR TABLE ...). Nothing was copied.`,
    { cause: e },
  );
}

/**
 * The role the subscription connects as: source-url's, when it may replicate (it read everything
 * pg_dump dumped, so it can copy every table), else replication-user (which then needs SELECT on every table).
 */
async function subscriber(s: PgSession, src: PgClient): Promise<{ user: string; password: string }> {
  const { ok } = await one<{ ok: boolean }>(src, 'SELECT rolreplication OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user');
  const url = s.sourceEndpoint.connectUrl;
  if (ok) return { user: decodeURIComponent(url.username || 'postgres'), password: decodeURIComponent(url.password) };
  return { user: s.inputs.replicationUser, password: s.inputs.replicationPassword };
}

/**
 * Creates the subscription disabled, so that the slot's consistent point can be read before
 * anything consumes it, then enables it. The conninfo (with the password) lives in the target's
 * pg_subscription, readable by superusers only, and goes with DROP SUBSCRIPTION at cutover.
 */
async function createSubscription(s: PgSession, src: PgClient, tgt: PgClient, name: string): Promise<string> {
  // A slot left by an earlier failed seed would make CREATE SUBSCRIPTION fail.
  await src.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]);
  const addr = replicationAddress(s);
  const who = await subscriber(s, src);
  const db = decodeURIComponent(s.sourceEndpoint.connectUrl.pathname.replace(/^\//, '')) || 'postgres';
  const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const tls = await subscriptionTls(s.ctx.targetHost, tgt, s.sourceEndpoint.given, s.sourceEndpoint.input, 'subscription');
  const conninfo = [
    `host=${cq(addr.host)} port=${addr.port} dbname=${cq(db)} user=${cq(who.user)} password=${cq(who.password)} application_name=${name} connect_timeout=10`,
    ...tlsKeywords(tls, cq),
  ].join(' ');
  try {
    await tgt.query(
      `CREATE SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(conninfo)} PUBLICATION ${quoteIdent(name)} WITH (copy_data = true, create_slot = true, slot_name = ${quoteLiteral(name)}, enabled = false)`,
    );
  } catch (e) {
    // The statement carries the password: only the server's message goes on.
    const said = (e as Error).message.replace(/\s+/g, ' ').replace(/[.\s]+$/, '');
    throw new UserError(
      `creating subscription ${name} on ${s.names.target} failed: ${said}. ${capitalized(s.names.target)} connects to ${addr.host}:${addr.port} as "${who.user}" (source-replication-address; a pg_hba line for database ${db}, not "replication", lets it in). No row was copied yet: the schema is loaded, and seed-replica run again once this is fixed goes on from there.`,
    );
  }
  const position = await slotPosition(src, name);
  await tgt.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} ENABLE`);
  s.ctx.log.info(`subscription ${name} created on ${s.names.target} as "${who.user}"; slot ${name} on ${s.names.source} starts at ${position}`);
  return position;
}

/** The slot's consistent point: its confirmed_flush_lsn before any change has been consumed. */
async function slotPosition(src: PgClient, name: string): Promise<string> {
  const r = await rows<{ lsn: string | null }>(src, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [name]);
  if (!r[0]?.lsn) throw new SafetyError(`replication slot ${name} is missing on the source: the subscription cannot stream; run seed-replica again`);
  return r[0].lsn;
}

interface SyncState {
  total: number;
  ready: number;
  errors: number;
  worker: boolean;
}

async function syncState(tgt: PgClient, name: string): Promise<SyncState> {
  const r = await one<{ total: number; ready: number; worker: boolean }>(
    tgt,
    `SELECT count(*)::int AS total, count(*) FILTER (WHERE srsubstate = 'r')::int AS ready,
            EXISTS (SELECT 1 FROM pg_stat_subscription ss JOIN pg_subscription s ON s.oid = ss.subid WHERE s.subname = $1 AND ss.pid IS NOT NULL) AS worker
       FROM pg_subscription_rel WHERE srsubid = (SELECT oid FROM pg_subscription WHERE subname = $1)`,
    [name],
  );
  // pg_stat_subscription_stats exists from PostgreSQL 15 on: the count of failed copy and apply attempts.
  const e = await rows<{ n: string }>(tgt, 'SELECT (sync_error_count + apply_error_count)::text AS n FROM pg_stat_subscription_stats WHERE subname = $1', [
    name,
  ]).catch(() => []);
  return { ...r, errors: Number(e[0]?.n ?? 0) };
}

/** Waits until every table of the subscription is 'r' (copied and streaming), with progress; returns the bytes on the target. */
async function waitTablesReady(s: PgSession, tgt: PgClient, src: PgClient, name: string): Promise<number> {
  const progress = new Progress(s.ctx.log);
  const started = Date.now();
  const { total: sourceBytes } = await one<{ total: string }>(src, 'SELECT pg_database_size(current_database())::text AS total');
  const firstErrors = (await syncState(tgt, name)).errors;
  let noWorkerSince: number | undefined;
  for (;;) {
    const st = await syncState(tgt, name);
    const { size } = await one<{ size: string }>(tgt, 'SELECT pg_database_size(current_database())::text AS size');
    if (st.total > 0 && st.ready === st.total) {
      progress.report(`all ${st.total} table(s) copied: ${formatBytes(Number(size))} in ${formatSeconds((Date.now() - started) / 1000)}`, true);
      return Number(size);
    }
    progress.report(`tables ready ${st.ready}/${st.total}; database ${transferProgress(Number(size), Number(sourceBytes), started)}`);
    if (st.errors - firstErrors >= 3)
      throw new UserError(
        `the subscription's copy or apply on ${s.names.target} failed ${st.errors - firstErrors} times (pg_stat_subscription_stats): its server log says why (permissions on a table, a missing extension or role, a row that conflicts). Fix it and run seed-replica again: it goes on from where the copy is.`,
      );
    noWorkerSince = st.worker ? undefined : (noWorkerSince ?? Date.now());
    if (noWorkerSince && Date.now() - noWorkerSince > 60_000)
      throw new UserError(
        `subscription ${name} on ${s.names.target} has had no running worker for 60 s: check that max_logical_replication_workers and max_worker_processes leave room, and its server log. Run seed-replica again once fixed: it goes on from where the copy is.`,
      );
    await sleep(1000);
  }
}
