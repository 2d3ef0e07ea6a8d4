/**
 * The way back after a logical migration (reverse-replication: true): logical replication from
 * the new primary to the old source, from the switch point.
 * - prepare (before the fence): the new primary can publish (wal_level = logical, target-url a
 *   superuser for FOR ALL TABLES), the old source can subscribe (source-url may CREATE
 *   SUBSCRIPTION), and the login the subscription will use reaches the new primary from here.
 * - inside the fence, before the target takes writes: a publication FOR ALL TABLES and a logical
 *   slot on the target, so that the stream starts exactly at the switch point (reverseStartPoint).
 * - after promotion: a subscription on the old source (copy_data = false, create_slot = false)
 *   through that slot. The old source stays fenced for the application (read-only by ALTER
 *   SYSTEM, its roles NOLOGIN); its apply worker writes all the same.
 * The one name of the reverse publication, slot and subscription is reverse-replication-slot:
 * rollback's swapped session has it as its replication-slot, so the logical switch finds the
 * subscription and runs (sequences copied back, subscription dropped, the old source's fence lifted).
 */
import type { Fence, ReverseReplication } from '../../engine.js';
import { InputError, SafetyError, UserError, describeError } from '../../../errors.js';
import { info, warning, type Note } from '../../../notes.js';
import { connectPg, one, quoteIdent, quoteLiteral, rows, type PgClient } from '../connect.js';
import { subscriptionTls, tlsKeywords } from '../conninfo.js';
import { liftReadOnlyFence } from '../cutover.js';
import { targetReplicationAddress } from '../reverse.js';
import type { PgSession } from '../session.js';
import { forgetDdlGuard, keepSchema, schemaBeforeDump } from './ddl-hooks.js';
import { FINGERPRINT_SCHEMA } from './schema-guard.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the reverse subscription connects with, proven before the fence. */
export interface LogicalReversePlan {
  kind: 'logical';
  addr: { host: string; port: number };
  database: string;
  user: string;
  password: string;
}

/** rollback's session (roles swapped): its replication-slot is the reverse one (steps/rollback.ts reversedContext). */
export function isReversed(s: PgSession): boolean {
  return s.inputs.replicationSlot === s.inputs.reverseReplicationSlot;
}

/** A forward cutover that keeps a way back: the reverse start point is made inside its fence. */
export function wantsReverse(s: PgSession): boolean {
  return s.inputs.reverseReplication && !isReversed(s);
}

const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function refuse(what: string): never {
  throw new UserError(`reverse-replication after a logical migration: ${what} Nothing was changed.`);
}

/** Before the fence: everything the reverse stream needs, checked; nothing changed. */
export async function prepareLogicalReverse(s: PgSession): Promise<LogicalReversePlan> {
  const name = s.inputs.reverseReplicationSlot;
  if (!name || name === s.inputs.replicationSlot)
    throw new InputError(
      'reverse-replication-slot',
      `must differ from replication-slot (${s.inputs.replicationSlot}): it names the reverse publication, slot and subscription`,
    );
  const tgt = await s.target();
  const t = await one<{ level: string; su: boolean; sub: boolean; db: string }>(
    tgt,
    "SELECT current_setting('wal_level') AS level, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su, (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS sub, current_database() AS db",
  );
  if (t.level !== 'logical')
    refuse(
      `the new primary publishes its writes to the old source, which needs wal_level = logical on the target (it is ${t.level}). Set it in the target's configuration and restart the target, then cut over again.`,
    );
  if (!t.su) refuse(`the reverse publication is FOR ALL TABLES, which needs a superuser in target-url on the target.`);
  await refuseSlotInUse(s, tgt, name);
  const src = await s.source();
  const o = await one<{ ok: boolean }>(
    src,
    "SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR (current_setting('server_version_num')::int >= 160000 AND pg_has_role(current_user, 'pg_create_subscription', 'MEMBER')) AS ok",
  ).catch(async () => one<{ ok: boolean }>(src, 'SELECT rolsuper AS ok FROM pg_roles WHERE rolname = current_user'));
  if (!o.ok)
    refuse(`the old source subscribes to the new primary, which needs a superuser in source-url (or, from PostgreSQL 16, a member of pg_create_subscription).`);
  const given = s.targetEndpoint.given;
  const who = t.sub
    ? { user: decodeURIComponent(given.username || 'postgres'), password: decodeURIComponent(given.password) }
    : { user: s.inputs.replicationUser, password: s.inputs.replicationPassword };
  if (!who.user || !who.password)
    refuse(
      `the old source's subscription logs in to the new primary as a role with REPLICATION: target-url's role has none, so replication-user and replication-password are needed.`,
    );
  await refuseTablesOnlyOnTarget(tgt, src);
  const addr = targetReplicationAddress(s);
  await proveLogin(addr, t.db, who);
  return { kind: 'logical', addr, database: t.db, ...who };
}

/**
 * The reverse slot must be creatable inside the fence, so what would make it fail there is refused
 * before: a slot of that name that a consumer reads now (no aborted run's leftover, which is
 * replaced inside the fence; it is not touched), or no free slot.
 */
async function refuseSlotInUse(s: PgSession, tgt: PgClient, name: string): Promise<void> {
  const r = await one<{ pid: number | null; mine: boolean; used: number; max: number }>(
    tgt,
    `SELECT (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active) AS pid,
            EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) AS mine,
            (SELECT count(*)::int FROM pg_replication_slots) AS used, current_setting('max_replication_slots')::int AS max`,
    [name],
  );
  if (r.pid !== null)
    refuse(
      `a replication slot named ${name} exists on ${s.names.target} and is in use (walsender pid ${r.pid}): it is no leftover of an aborted cutover. Set reverse-replication-slot to another name, or stop what reads it and drop it.`,
    );
  // A leftover of that name is replaced, so it frees the place it takes.
  if (!r.mine && r.used >= r.max)
    refuse(
      `the reverse slot ${name} needs a free replication slot on ${s.names.target}, and all ${r.max} are in use (max_replication_slots): drop one you no longer need (pg_replication_slots) or raise max_replication_slots there (a restart).`,
    );
}

/**
 * The reverse publication is FOR ALL TABLES: CREATE SUBSCRIPTION on the old source fails for a
 * table it lacks, after the switch. Such tables are named before the fence instead. zdm's own
 * schema is left out (its fingerprint leaves the new primary before the subscription is made).
 */
async function refuseTablesOnlyOnTarget(tgt: PgClient, src: PgClient): Promise<void> {
  const q = `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema', '${FINGERPRINT_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'`;
  const [onTarget, onSource] = await Promise.all([rows<{ t: string }>(tgt, q), rows<{ t: string }>(src, q)]);
  const have = new Set(onSource.map((r) => r.t));
  const missing = onTarget.map((r) => r.t).filter((x) => !have.has(x));
  if (missing.length)
    refuse(
      `the reverse publication carries every table of the new primary, and the old source lacks ${missing.join(', ')}: create them there (the same definition) or drop them on the target.`,
    );
}

/** The login the subscription will use, tried from here: a database connection (pg_hba's database line) by a role that may replicate. */
async function proveLogin(addr: { host: string; port: number }, database: string, who: { user: string; password: string }): Promise<void> {
  const url = new URL(`postgres://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/`);
  let ok = false;
  try {
    const c = await connectPg(url, { input: 'target-url', user: who.user, password: who.password, database, timeoutMs: 10_000 });
    ok = await one<{ ok: boolean }>(c, 'SELECT rolreplication OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user')
      .then((r) => r.ok)
      .finally(() => c.end().catch(() => undefined));
  } catch (e) {
    refuse(
      `the old source would subscribe to the new primary at ${addr.host}:${addr.port} (database ${database}) as "${who.user}", and that login failed from here: ${describeError(e)} (set target-replication-address if the old source reaches the new server elsewhere).`,
    );
  }
  if (!ok) refuse(`role "${who.user}" may not replicate on the new primary (no REPLICATION attribute): grant it, or use another role.`);
}

/**
 * Inside the fence, after the final position is applied and the sequences copied, before the
 * target takes a write: the publication, then the slot (pgoutput reads the publication as of each
 * change, so it must exist before the slot's start). Returns the slot's start.
 */
export async function reverseStartPoint(s: PgSession): Promise<string> {
  const tgt = await s.target();
  const name = s.inputs.reverseReplicationSlot;
  // Marked before the first statement: an abort from here on (even a lost connection) removes them, or says they may remain.
  STARTED.add(s);
  try {
    // An earlier aborted run's leftovers (inactive: no subscription reads them) are replaced, so the stream starts at this switch point.
    await tgt.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
    await tgt.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR ALL TABLES`);
    await tgt.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]);
    const { lsn } = await one<{ lsn: string }>(tgt, "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [name]);
    s.ctx.log.info(`reverse start point on ${s.names.target}: publication and logical slot ${name} at ${lsn}, before it takes writes`);
    return lsn;
  } catch (e) {
    throw new UserError(`reverse-replication: making publication and logical slot ${name} on ${s.names.target} inside the fence failed: ${describeError(e)}`, {
      cause: e,
    });
  }
}

/** Sessions whose switch began making the reverse publication and slot on the target (reverseStartPoint). */
const STARTED = new WeakSet<PgSession>();

/**
 * A switch aborted before promotion, after reverseStartPoint began: the reverse slot would keep the
 * target's WAL for ever (nothing subscribes to it), so it goes, and the publication with it. Best
 * effort, each separately; the connection is opened anew if the old one is lost. Returns what was
 * done or what remains to do by hand, for the abort's message ('' when nothing was made).
 */
export async function abandonReverseStart(s: PgSession): Promise<string> {
  if (!STARTED.has(s) || !wantsReverse(s)) return '';
  STARTED.delete(s);
  const name = s.inputs.reverseReplicationSlot;
  const removed: string[] = [];
  const failed: string[] = [];
  const slot = await onTarget(
    s,
    async (tgt) => (await rows(tgt, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name])).length,
  );
  if (typeof slot !== 'number')
    failed.push(
      `Dropping logical slot ${name} on ${s.names.target} failed (${slot.error}): the slot ${name} may remain on ${s.names.target}, where it keeps WAL for ever. Drop it there: SELECT pg_drop_replication_slot('${name.replace(/'/g, "''")}');`,
    );
  else if (slot) removed.push(`logical slot ${name}`);
  const pub = await onTarget(s, async (tgt) => {
    const had = (await rows(tgt, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [name])).length;
    if (had) await tgt.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
    return had;
  });
  if (typeof pub !== 'number')
    failed.push(
      `Dropping publication ${name} on ${s.names.target} failed (${pub.error}): it may remain there. Drop it there: DROP PUBLICATION IF EXISTS ${quoteIdent(name)};`,
    );
  else if (pub) removed.push(`publication ${name}`);
  const done = removed.length ? `The way back made inside the fence was removed from ${s.names.target}: ${removed.join(' and ')}.` : '';
  if (done) s.ctx.log.info(done);
  for (const f of failed) s.ctx.log.warn(f);
  return [done, ...failed].filter(Boolean).join(' ');
}

/** One statement group on the target, tried again on a new connection when the first attempt fails (a lost connection). */
async function onTarget<T>(s: PgSession, fn: (tgt: PgClient) => Promise<T>): Promise<T | { error: string }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const tgt = await s.target();
      // A new connection may start read-only by default (as logicalWaitApplied found it): zdm's session acts past it.
      await tgt.query('SET default_transaction_read_only = off');
      return await fn(tgt);
    } catch (e) {
      if (attempt > 0) return { error: describeError(e) };
      await s.forget('target');
    }
  }
}

/** After promotion: the old source subscribes through the slot made inside the fence; the new primary's schema is kept there for rollback's DDL guard. */
export async function startLogicalReverse(s: PgSession, plan: LogicalReversePlan, _f: Fence, finalPosition: string): Promise<ReverseReplication> {
  const name = s.inputs.reverseReplicationSlot;
  const tgt = await s.target();
  const slot = await rows<{ lsn: string }>(
    tgt,
    "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'",
    [name],
  );
  if (!slot[0])
    throw new SafetyError(
      `logical slot ${name} is missing on ${s.names.newPrimary}: it is made inside the fence, so the way back cannot start at the switch point`,
    );
  const src = await s.source();
  // The old source keeps its fence's read-only default; this session (zdm's role) acts past it.
  await src.query('SET default_transaction_read_only = off');
  const { addr, database, user, password } = plan;
  const tls = await subscriptionTls(s.ctx.sourceHost, src, s.targetEndpoint.given, s.targetEndpoint.input, 'subscription');
  const conninfo = [
    `host=${cq(addr.host)} port=${addr.port} dbname=${cq(database)} user=${cq(user)} password=${cq(password)} application_name=${name} connect_timeout=10`,
    ...tlsKeywords(tls, cq),
  ].join(' ');
  try {
    await dropSubscription(src, name);
    try {
      await src.query(
        `CREATE SUBSCRIPTION ${quoteIdent(name)} CONNECTION ${quoteLiteral(conninfo)} PUBLICATION ${quoteIdent(name)} WITH (copy_data = false, create_slot = false, slot_name = ${quoteLiteral(name)})`,
      );
    } catch (e) {
      // The statement carries the password: only the server's message goes on.
      throw new UserError(`creating subscription ${name} on ${s.names.oldSource} failed: ${(e as Error).message.replace(/\s+/g, ' ')}`);
    }
    await keepSchema(src, await schemaBeforeDump(s, tgt));
    await waitStreaming(s, src, tgt, name);
  } catch (e) {
    throw new UserError(`${describeError(e)}. ${await abandon(s, src, tgt, name)}`, { cause: e });
  }
  return {
    from: `${addr.host}:${addr.port}`,
    position: slot[0].lsn || finalPosition,
    notes: [
      info(
        `the old source replicates logically from the new primary (subscription ${name}, slot ${name} made inside the fence at ${slot[0].lsn}); it stays fenced for the application (read-only, its roles NOLOGIN) until rollback or finalize. Sequences are not replicated: rollback copies them back inside its fence`,
      ),
    ],
  };
}

/** A way back that did not start: its slot would keep the new primary's WAL for ever, so everything goes. Says what was removed. */
async function abandon(s: PgSession, src: PgClient, tgt: PgClient, name: string): Promise<string> {
  try {
    await dropSubscription(src, name);
    await tgt.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]);
    await tgt.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
    return `Subscription, slot and publication ${name} were removed, so that no slot keeps ${s.names.newPrimary}'s WAL`;
  } catch (e) {
    return `Removing them failed too (${describeError(e)}): drop subscription ${name} on ${s.names.oldSource} and slot and publication ${name} on ${s.names.newPrimary} by hand, or the slot keeps WAL for ever`;
  }
}

async function waitStreaming(s: PgSession, src: PgClient, tgt: PgClient, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const w = await rows(
      src,
      'SELECT 1 FROM pg_subscription s JOIN pg_stat_subscription ss ON ss.subid = s.oid AND ss.relid IS NULL WHERE s.subname = $1 AND ss.pid IS NOT NULL',
      [name],
    );
    const a = await rows(tgt, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [name]);
    if (w.length && a.length) return;
    if (Date.now() > deadline)
      throw new SafetyError(
        `subscription ${name} on ${s.names.oldSource} did not start streaming from ${s.names.newPrimary} within 60 s: see the old source's server log`,
      );
    await sleep(100);
  }
}

/** Disabled and detached from its slot first: DROP SUBSCRIPTION then needs no connection to the publisher. */
async function dropSubscription(c: PgClient, name: string): Promise<boolean> {
  const here = await rows(
    c,
    'SELECT 1 FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
    [name],
  );
  if (!here.length) return false;
  await c.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} DISABLE`);
  await c.query(`ALTER SUBSCRIPTION ${quoteIdent(name)} SET (slot_name = NONE)`);
  await c.query(`DROP SUBSCRIPTION ${quoteIdent(name)}`);
  return true;
}

/**
 * rollback's switch, once the reverse subscription is dropped on the old source (rollback's
 * target): the read-only fence cutover left there is lifted, so that it takes writes again.
 */
export async function liftOldSourceFence(s: PgSession): Promise<string[]> {
  return liftReadOnlyFence(await s.target());
}

/** finalize: is the way back a logical one (the reverse subscription on the old source, or its slot on the new primary)? */
export async function hasLogicalReverse(s: PgSession): Promise<boolean> {
  const name = s.inputs.reverseReplicationSlot;
  const slot = await rows(await s.target(), "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'", [name]);
  if (slot.length) return true;
  const src = await s.source().catch(() => undefined);
  return src ? (await rows(src, 'SELECT 1 FROM pg_subscription WHERE subname = $1', [name]).catch(() => [])).length > 0 : false;
}

/** finalize: the subscription leaves the old source (which stays fenced), the slot and the publication leave the new primary. */
export async function teardownLogicalReverse(s: PgSession): Promise<Note[]> {
  const name = s.inputs.reverseReplicationSlot;
  const notes: Note[] = [];
  const src = await s.source().catch(() => undefined);
  if (src) {
    await src.query('SET default_transaction_read_only = off');
    if (await dropSubscription(src, name)) notes.push(info(`dropped subscription ${name} on the old source`));
    await forgetDdlGuard(src);
    notes.push(info('the old source stays fenced (read-only, application roles NOLOGIN) and replicates from nothing: decommission it, or seed it anew'));
  } else {
    notes.push(
      warning(
        `the old source does not accept connections: drop subscription ${name} there yourself (ALTER SUBSCRIPTION ${name} DISABLE; ALTER SUBSCRIPTION ${name} SET (slot_name = NONE); DROP SUBSCRIPTION ${name})`,
      ),
    );
  }
  const tgt = await s.target();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (await rows(tgt, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [name])).length) await sleep(50);
  const dropped = await rows(tgt, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]);
  if (dropped.length) notes.push(info(`dropped logical replication slot ${name} on the new primary`));
  await tgt.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(name)}`);
  notes.push(info(`dropped publication ${name} on the new primary`));
  return notes;
}
