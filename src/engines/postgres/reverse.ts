/**
 * PostgreSQL reverse replication: after a fast-shutdown fence the old primary's WAL ends with the
 * shutdown checkpoint the new primary was proven to hold, so the old primary can rejoin as a
 * standby of the new one without pg_rewind (recovery_target_timeline = latest follows the new
 * timeline). After a read-only fence it cannot: its WAL goes on past the fork, so it is stopped
 * and rewound to the fork with pg_rewind first (which needs wal_log_hints or data checksums).
 */
import { addressOf } from '../../hosts/endpoint.js';
import * as path from 'node:path';
import type { Fence, Reverse, ReverseReplication } from '../engine.js';
import type { PgFenceUndo } from './cutover.js';
import { waitFor } from '../wait.js';
import { InputError, SafetyError, UserError } from '../../errors.js';
import { lastLines, type OsUser } from '../../hosts/host.js';
import { connectPg, one, quoteLiteral, rows, type PgClient } from './connect.js';
import { addressUrl } from './tls.js';
import { APPLICATION_NAME, installTls, libpqTls, passfilePath, tlsEnv, tlsFilePaths, tlsKeywords, type LibpqTls } from './conninfo.js';
import { findPgProgram } from './programs.js';
import type { PgSession } from './session.js';
import { SWITCH_RETRY_INTERVAL } from './tuning.js';
import { info, warning, type Note } from '../../notes.js';

export interface ReversePlan {
  dataDir: string;
  owner: OsUser;
  addr: { host: string; port: number };
  /** After a read-only fence: the pg_rewind program on the source host. */
  rewind?: string;
}

/** Keeps the old source's WAL back to its last checkpoint through its own shutdown, for pg_rewind. */
const REWIND_SLOT = 'zdm_rewind';

const STANDBY_KEYS = /^\s*(primary_conninfo|primary_slot_name)\s*=/;
/** Only zdm's own line is removed again: a retry interval the user set stays. */
const RETRY_LINE = `wal_retrieve_retry_interval = '${SWITCH_RETRY_INTERVAL}'`;
const MARK = '# Added by zdm cutover: reverse replication from the new primary (password in the passfile only).';

/** host:port at which the old source reaches the new primary. */
export function targetReplicationAddress(s: PgSession): { host: string; port: number } {
  const given = s.inputs.targetReplicationAddress;
  if (!given) return addressOf(s.targetEndpoint.given);
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(given);
  if (!m) throw new InputError('target-replication-address', `must be host:port (got ${JSON.stringify(given)})`);
  return { host: m[1], port: Number(m[2]) };
}

const escPass = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/** After a read-only fence: what pg_rewind needs, checked before the fence. Returns the program. */
async function prepareRewind(s: PgSession, src: PgClient): Promise<string> {
  const i = s.inputs;
  if (!i.sourceStopCommand)
    throw new InputError(
      'source-stop-command',
      'is required with reverse-replication and fence: read-only: after the switch, cutover stops the old source (fast shutdown) to rewind it to the fork with pg_rewind',
    );
  const f = await one<{ hints: string; sums: string; fpw: string; num: string; su: boolean | null }>(
    src,
    `SELECT current_setting('wal_log_hints') AS hints, current_setting('data_checksums') AS sums, current_setting('full_page_writes') AS fpw,
            current_setting('server_version_num') AS num, (SELECT rolsuper FROM pg_roles WHERE rolname = $1) AS su`,
    [decodeURIComponent(s.targetEndpoint.given.username || 'postgres')],
  );
  if (f.hints !== 'on' && f.sums !== 'on')
    throw new InputError(
      'reverse-replication',
      "with fence: read-only needs pg_rewind (the old source's WAL goes on past the new primary's fork), and pg_rewind needs wal_log_hints = on or data checksums on the source: neither is on. Use fence: shutdown (no rewind needed), or set wal_log_hints = on and restart the source first. Nothing was changed.",
    );
  if (f.fpw !== 'on')
    throw new InputError('reverse-replication', 'with fence: read-only needs pg_rewind, which needs full_page_writes = on on the source. Nothing was changed.');
  if (!f.su)
    throw new InputError(
      'reverse-replication',
      "with fence: read-only runs pg_rewind, which reads the new primary's files as target-url's role: that role must be a superuser. Nothing was changed.",
    );
  const major = Math.floor(Number(f.num) / 10000);
  const bin = await findPgProgram(s.ctx.sourceHost, major, 'pg_rewind');
  if (!bin)
    throw new UserError(
      `reverse-replication with fence: read-only needs pg_rewind ${major} on the source host (Debian: postgresql-${major}). Nothing was changed.`,
    );
  return bin;
}

export async function prepareReverse(s: PgSession): Promise<ReversePlan> {
  const i = s.inputs;
  const rewind = i.fence === 'shutdown' ? undefined : await prepareRewind(s, await s.source());
  if (!i.sourceStartCommand)
    throw new InputError('source-start-command', 'is required with reverse-replication: cutover starts the old source with it as a standby of the new primary');
  if (!i.replicationUser || !i.replicationPassword)
    throw new InputError(
      i.replicationUser ? 'replication-password' : 'replication-user',
      'is required with reverse-replication: the old source streams from the new primary as replication-user (the copy brought that role there)',
    );
  const src = await s.source();
  const f = await one<{ dd: string; hs: string; sysid: string }>(
    src,
    "SELECT current_setting('data_directory') AS dd, current_setting('hot_standby') AS hs, (SELECT system_identifier::text FROM pg_control_system()) AS sysid",
  );
  const dataDir = path.resolve(i.sourceDataDir || f.dd);
  if (dataDir !== path.resolve(f.dd))
    throw new InputError('source-data-dir', `is ${dataDir}, but the source reports its data directory as ${f.dd}: set it to that directory, or leave it empty`);
  if (f.hs !== 'on')
    throw new UserError(
      "reverse-replication: hot_standby is off on the source. As a standby it would accept no connections, and rollback could not prove what it applied. Set hot_standby = on in the source's postgresql.conf (it takes effect at the restart as a standby). Nothing was changed.",
    );
  const host = s.ctx.sourceHost;
  if (!(await host.exists(path.join(dataDir, 'PG_VERSION'))))
    throw new UserError(
      `reverse-replication: the source's data directory ${dataDir} is not reachable from ${host.name}; cutover writes the old source's standby settings there. Run zdm on the source host, or without reverse-replication. Nothing was changed.`,
    );
  const owner = await host.ownerOf(dataDir);
  const addr = targetReplicationAddress(s);
  // The target is still a standby, a copy of the source: same system identifier, and it accepts
  // replication connections already. This proves the login the old source will use after the switch.
  const url = addressUrl(addr, s.targetEndpoint.given);
  let sysid: string;
  try {
    const rc = await connectPg(url, {
      input: 'replication-user/replication-password',
      user: i.replicationUser,
      password: i.replicationPassword,
      replication: true,
    });
    const id = await rc.query('IDENTIFY_SYSTEM').finally(() => rc.end().catch(() => undefined));
    sysid = String(id.rows[0]?.systemid ?? '');
  } catch (e) {
    throw new UserError(
      `reverse-replication: the old source would stream from the new primary at ${addr.host}:${addr.port} as ${i.replicationUser}, and that login failed from here: ${(e as Error).message} (set target-replication-address if the old source reaches the new server elsewhere). Nothing was changed.`,
      { cause: e },
    );
  }
  if (sysid !== f.sysid)
    throw new UserError(
      `reverse-replication: ${addr.host}:${addr.port} is a different cluster (system identifier ${sysid}, the source's is ${f.sysid}): check target-replication-address. Nothing was changed.`,
    );
  return { dataDir, owner, addr, rewind };
}

/** Lines appended to the old source's postgresql.auto.conf: stream from the new primary through its slot. */
function reverseConfig(s: PgSession, plan: ReversePlan, passfile: string, tls: LibpqTls): string {
  const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const conninfo = [
    `host=${cq(plan.addr.host)}`,
    `port=${plan.addr.port}`,
    `user=${cq(s.inputs.replicationUser)}`,
    `passfile=${cq(passfile)}`,
    `application_name=${APPLICATION_NAME}`,
    'connect_timeout=10',
    ...tlsKeywords(tls, cq),
  ].join(' ');
  return (
    [
      MARK,
      `primary_conninfo = ${quoteLiteral(conninfo)}`,
      `primary_slot_name = ${quoteLiteral(s.inputs.reverseReplicationSlot)}`,
      // As tune-target sets it on the migration target: a rollback's promotion of the old source
      // must not wait out the 5 s default retry sleep (see SWITCH_RETRY_INTERVAL).
      RETRY_LINE,
    ].join('\n') + '\n'
  );
}

/** postgresql.auto.conf without zdm's standby lines (and any primary_conninfo / primary_slot_name). */
function withoutStandbyLines(text: string): string {
  const kept = text.split('\n').filter((l) => !STANDBY_KEYS.test(l) && l !== MARK && l !== RETRY_LINE);
  return kept.join('\n').replace(/\n*$/, '\n');
}

/** Stops the old source (still up behind the read-only fence) and rewinds it to the new primary's fork. */
async function rewindOldSource(s: PgSession, plan: ReversePlan, bin: string): Promise<string> {
  const host = s.ctx.sourceHost;
  const { dataDir, owner, addr } = plan;
  // pg_rewind replays the old source's WAL back from the last checkpoint before the fork; its own
  // shutdown checkpoint would recycle that WAL. A slot reserved now pins it (from that checkpoint's redo).
  const src = await s.source();
  await src.query('SET default_transaction_read_only = off');
  await src.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [REWIND_SLOT]);
  await src.query('SELECT pg_create_physical_replication_slot($1, true)', [REWIND_SLOT]);
  await s.forget('source');
  const r = await host.shell(s.inputs.sourceStopCommand, { timeoutMs: 120_000 });
  if (r.code !== 0)
    throw new UserError(`source-stop-command failed (exit ${r.code}) stopping the old source for pg_rewind: ${lastLines(r.stderr || r.stdout)}`);
  await waitFor('the old source stopping (postmaster.pid gone)', 120_000, async () =>
    (await host.exists(path.join(dataDir, 'postmaster.pid'))) ? undefined : true,
  );
  // A just-promoted primary's control file names its new timeline only after a checkpoint; before
  // it, pg_rewind finds "the same timeline" and rewinds nothing (PostgreSQL's pg_rewind notes).
  await (await s.target()).query('CHECKPOINT');
  // pg_rewind reads the new primary's files as target-url's role: its password goes to a passfile only.
  const tu = s.targetEndpoint.given;
  const user = decodeURIComponent(tu.username || 'postgres');
  const db = decodeURIComponent(tu.pathname.replace(/^\//, '')) || 'postgres';
  const tls = await installTls(host, libpqTls(tu, s.targetEndpoint.input), dataDir, owner, 'rewind');
  const passfile = path.join(path.dirname(dataDir), `.zdm-rewind-${path.basename(dataDir)}.pgpass`);
  await host.writeFile(passfile, `${escPass(addr.host)}:${addr.port}:*:${escPass(user)}:${escPass(decodeURIComponent(tu.password))}\n`, { mode: 0o600, owner });
  const cq = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const conn = `host=${cq(addr.host)} port=${addr.port} user=${cq(user)} dbname=${cq(db)} connect_timeout=10`;
  try {
    const rw = await host.run([bin, '--target-pgdata', dataDir, '--source-server', conn], {
      user: owner.name,
      env: { PGPASSFILE: passfile, PGAPPNAME: 'zdm_rewind', ...tlsEnv(tls) },
      timeoutMs: 3_600_000,
    });
    if (rw.code !== 0)
      throw new UserError(
        `pg_rewind failed (exit ${rw.code}): ${lastLines(rw.stderr || rw.stdout, 4)}. The old source is stopped and holds standby.signal (and a slot ${REWIND_SLOT} to drop once it runs); rewind it by hand or seed it anew to keep a way back.`,
      );
    s.ctx.log.info(`pg_rewind: ${lastLines(rw.stderr || rw.stdout, 6)}`);
    return lastLines(rw.stderr || rw.stdout, 1);
  } finally {
    await host.remove(passfile);
    for (const f of tlsFilePaths(dataDir, 'rewind')) await host.remove(f).catch(() => undefined);
  }
}

export async function startReverse(s: PgSession, plan: ReversePlan, f: Fence, finalPosition: string): Promise<ReverseReplication> {
  if (f.mode !== 'shutdown' && !plan.rewind) throw new SafetyError('reverse replication after a read-only fence needs pg_rewind');
  const host = s.ctx.sourceHost;
  const { dataDir, owner } = plan;
  const notes: Note[] = [];
  // First: whatever fails later, the old source can no longer start as a second primary.
  await host.writeFile(path.join(dataDir, 'standby.signal'), '', { mode: 0o600, owner });
  if (plan.rewind) {
    notes.push(info(`rewound the old source to the new primary's fork with pg_rewind: ${await rewindOldSource(s, plan, plan.rewind)}`));
    // pg_rewind makes the data directory a copy of the new primary's: the signal goes again.
    await host.writeFile(path.join(dataDir, 'standby.signal'), '', { mode: 0o600, owner });
  }
  const slot = s.inputs.reverseReplicationSlot;
  const tgt = await s.target();
  await tgt.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
  await tgt.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
  const passfile = passfilePath(dataDir);
  const { host: h, port } = plan.addr;
  await host.writeFile(passfile, `${escPass(h)}:${port}:*:${escPass(s.inputs.replicationUser)}:${escPass(s.inputs.replicationPassword)}\n`, {
    mode: 0o600,
    owner,
  });
  // The new primary's TLS (target-url's sslmode and CA), in files the old source's server reads.
  const tls = await installTls(host, libpqTls(s.targetEndpoint.given, s.targetEndpoint.input), dataDir, owner, 'primary');
  const auto = path.join(dataDir, 'postgresql.auto.conf');
  const existing = (await host.exists(auto)) ? await host.readFile(auto) : '';
  await host.writeFile(auto, withoutStandbyLines(existing) + reverseConfig(s, plan, passfile, tls), { mode: 0o600, owner });

  await s.forget('source');
  const r = await host.shell(s.inputs.sourceStartCommand, { timeoutMs: 300_000 });
  if (r.code !== 0)
    throw new UserError(
      `source-start-command failed (exit ${r.code}) starting the old source as a standby: ${lastLines(r.stderr || r.stdout)}. It holds standby.signal, so it cannot start as a primary; start it yourself to keep the way back.`,
    );
  await waitFor(
    'the old source streaming from the new primary',
    120_000,
    async () => {
      await s.forget('source');
      const src = await s.source();
      const st = await one<{ rec: boolean; status: string | null }>(
        src,
        'SELECT pg_is_in_recovery() AS rec, (SELECT status FROM pg_stat_wal_receiver) AS status',
      );
      if (!st.rec) throw new SafetyError('the old source started as a primary, not as a standby: standby.signal was not honoured. Stop it at once.');
      return st.status === 'streaming' ? true : undefined;
    },
    (e) => e instanceof SafetyError,
  );
  // The forward slot would hold WAL on the old source for ever.
  const src = await s.source();
  const dropped = await rows<{ slot_name: string }>(
    src,
    'SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active',
    [[s.inputs.replicationSlot, REWIND_SLOT]],
  ).catch(() => []);
  if (dropped.length) notes.push(info(`dropped replication slot(s) ${dropped.map((d) => d.slot_name).join(', ')} on the old source`));
  notes.push(
    info(
      `the old source is a standby of the new primary, streaming from ${h}:${port} through slot ${slot} (which keeps the WAL it needs until finalize or rollback)`,
    ),
  );
  return { from: `${h}:${port}`, position: finalPosition, notes };
}

async function tryConnect(s: PgSession): Promise<PgClient | undefined> {
  try {
    return await connectPg(s.sourceEndpoint.connectUrl, { input: s.sourceEndpoint.input, trips: s.sourceEndpoint.trips, side: 'source', timeoutMs: 5000 });
  } catch {
    return undefined;
  }
}

export async function teardownReverse(s: PgSession): Promise<Note[]> {
  const notes: Note[] = [];
  const host = s.ctx.sourceHost;
  const tgt = await s.target();
  const { rec: targetInRecovery } = await one<{ rec: boolean }>(tgt, 'SELECT pg_is_in_recovery() AS rec');
  if (targetInRecovery)
    throw new SafetyError('the target is a standby, not the primary: finalize declares the migration to it final, so it refuses here. Nothing was changed.');
  let dataDir = s.inputs.sourceDataDir;
  const src = await tryConnect(s);
  if (src) {
    const st = await one<{ rec: boolean; dd: string }>(src, "SELECT pg_is_in_recovery() AS rec, current_setting('data_directory') AS dd").finally(() =>
      src.end().catch(() => undefined),
    );
    if (!st.rec)
      throw new SafetyError(
        'the old source is a primary, not a standby of the new primary (a rollback ran, or reverse replication was never set up): finalize refuses. Check which server the application writes to. Nothing was changed.',
      );
    if (!s.inputs.sourceStopCommand)
      throw new InputError(
        'source-stop-command',
        'is required by finalize on PostgreSQL: the old source runs as a standby of the new primary, and finalize stops it (left running, it would hold the reverse slot and follow the new primary for ever)',
      );
    dataDir = st.dd;
    const r = await host.shell(s.inputs.sourceStopCommand, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new UserError(`source-stop-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. Nothing else was changed.`);
    await waitFor('the old source refusing connections', 60_000, async () => {
      const c = await tryConnect(s);
      if (!c) return true;
      await c.end().catch(() => undefined);
      return undefined;
    });
    notes.push(info('stopped the old source (it was a standby of the new primary)'));
  } else {
    notes.push(info('the old source does not accept connections: taken as stopped'));
  }
  if (dataDir && (await host.exists(path.join(dataDir, 'PG_VERSION')))) {
    const auto = path.join(dataDir, 'postgresql.auto.conf');
    const owner = await host.ownerOf(dataDir);
    if (await host.exists(auto)) await host.writeFile(auto, withoutStandbyLines(await host.readFile(auto)), { mode: 0o600, owner });
    await host.remove(passfilePath(dataDir));
    for (const f of tlsFilePaths(dataDir, 'primary')) await host.remove(f).catch(() => undefined);
    notes.push(
      info(
        "removed the old source's standby connection settings and replication passfile. standby.signal stays: started again, it comes up as a standby connected to nothing, which refuses writes, never as a second primary. Decommission it (or seed it anew).",
      ),
    );
  } else {
    notes.push(
      warning(
        "the old source's data directory is not known or not reachable here (source-data-dir): remove primary_conninfo from its postgresql.auto.conf and its .zdm-*.pgpass passfile yourself",
      ),
    );
  }
  const slot = s.inputs.reverseReplicationSlot;
  // The walsender of the stopped standby exits within moments: wait for the slot to be free.
  const dropped = await waitFor(`replication slot ${slot} on the new primary to be released`, 30_000, async () => {
    const sl = await rows<{ active: boolean }>(tgt, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    if (sl.length === 0) return false;
    if (sl[0].active) return undefined;
    await tgt.query('SELECT pg_drop_replication_slot($1)', [slot]);
    return true;
  });
  if (dropped) notes.push(info(`dropped replication slot ${slot} on the new primary`));
  return notes;
}

/** Reverse replication: proven before the fence, started after promotion, torn down by finalize. */
export function pgReverse(s: PgSession): Reverse<PgFenceUndo, ReversePlan> {
  return {
    prepare: () => prepareReverse(s),
    start: (plan, f, finalPos) => startReverse(s, plan, f, finalPos),
    teardown: () => teardownReverse(s),
  };
}
