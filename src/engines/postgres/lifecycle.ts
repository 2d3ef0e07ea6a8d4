/**
 * A PostgreSQL migration's life around the switch: the WAL the source's slot keeps for the target
 * while the migration waits (status), and abandoning the migration before promotion (abort).
 * Physical (slot + standby) and logical (publication + subscription + slot) alike.
 */
import { describeError, UserError } from '../../errors.js';
import { formatBytes } from '../../log.js';
import { stopTargetForAbort } from '../data-dir.js';
import type { Lifecycle, Retention } from '../engine.js';
import { passfilePath } from './conninfo.js';
import { one, quoteIdent, quoteQualified, rows, type PgClient } from './connect.js';
import { parseLsn } from './lsn.js';
import { logicalName, subscription } from './logical/method.js';
import type { PgSession } from './session.js';

interface SlotRow extends Record<string, unknown> {
  slot_name: string;
  slot_type: string;
  active: boolean;
  wal_status: string | null;
  retained: string | null;
}

/** What a slot keeps: its wal_status (13+) says whether the WAL is still all there. */
async function slots(src: PgClient, names: string[]): Promise<SlotRow[]> {
  const { num } = await one<{ num: string }>(src, "SELECT current_setting('server_version_num') AS num");
  const walStatus = Number(num) >= 130000 ? 'wal_status' : 'NULL::text AS wal_status';
  return rows<SlotRow>(
    src,
    `SELECT slot_name, slot_type, active, ${walStatus},
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
       FROM pg_replication_slots WHERE slot_name = ANY($1) ORDER BY slot_name`,
    [names],
  );
}

async function retention(s: PgSession): Promise<Retention> {
  const src = await s.source();
  const found = await slots(src, [...new Set([s.inputs.replicationSlot, logicalName(s)])]);
  const { lsn, keep, dir } = await one<{ lsn: string; keep: string | null; dir: string | null }>(
    src,
    `SELECT pg_current_wal_lsn()::text AS lsn,
            (SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size') AS keep,
            (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS dir`,
  );
  const warnings: string[] = [];
  const limit =
    keep === null
      ? 'PostgreSQL before 13 has no max_slot_wal_keep_size: the slot keeps WAL without bound'
      : keep === '-1'
        ? 'max_slot_wal_keep_size = -1: the slot keeps WAL without bound'
        : `max_slot_wal_keep_size = ${formatBytes(Number(keep) * 1024 * 1024)}`;
  if (found.length && (keep === null || keep === '-1'))
    warnings.push(
      `the source keeps WAL for slot ${found[0].slot_name} without bound (${limit}): if the target stops, the source's disk fills. ` +
        `Set max_slot_wal_keep_size on the source (ALTER SYSTEM SET max_slot_wal_keep_size = '<about half its free disk>'; SELECT pg_reload_conf()), ` +
        `knowing that past it the slot is invalidated (wal_status = lost) and the target must be seeded again.`,
    );
  const lostSlot = found.find((r) => r.wal_status === 'lost');
  if (found.some((r) => r.wal_status === 'unreserved'))
    warnings.push(
      `slot ${found.find((r) => r.wal_status === 'unreserved')!.slot_name} is past max_slot_wal_keep_size (wal_status = unreserved): it is lost at the next checkpoint unless the target catches up now`,
    );
  const retained = found.reduce((n, r) => n + Number(r.retained ?? 0), 0);
  return {
    retainedBytes: found.length ? retained : 0,
    holder: found
      .map((r) => `slot ${r.slot_name} (${r.slot_type}${r.wal_status ? `, wal_status ${r.wal_status}` : ''}, ${r.active ? 'active' : 'inactive'})`)
      .join(', '),
    active: found.some((r) => r.active),
    writtenBytes: Number(parseLsn(lsn)),
    dir: dir ? `${dir}/pg_wal` : undefined,
    limit,
    warnings,
    lost: lostSlot ? `slot ${lostSlot.slot_name} has lost WAL the target still needs (wal_status = lost): the target must be seeded again` : undefined,
  };
}

/** The target stops replicating: its subscription goes (logical), or its standby settings and stored password (physical). */
async function detachTarget(s: PgSession, mode: 'stop' | 'standalone', done: string[]): Promise<void> {
  let tgt: PgClient;
  try {
    tgt = await s.target();
  } catch (e) {
    s.ctx.log.warn(
      `the target is not reachable (${describeError(e)}): nothing removed there (a target that abort stopped already lost its replication settings; otherwise run abort again once it runs)`,
    );
    return;
  }
  const sub = await subscription(s);
  if (sub) {
    const name = quoteIdent(logicalName(s));
    // Detached from its slot first, so DROP SUBSCRIPTION needs no connection to the source; the slot goes below.
    if (sub.enabled) await tgt.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
    await tgt.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
    await tgt.query(`DROP SUBSCRIPTION ${name}`);
    done.push(`subscription ${logicalName(s)} dropped on the target`);
  }
  const { recovery, conninfo, dir } = await one<{ recovery: boolean; conninfo: string; dir: string }>(
    tgt,
    "SELECT pg_is_in_recovery() AS recovery, current_setting('primary_conninfo') AS conninfo, current_setting('data_directory') AS dir",
  );
  if (recovery && mode === 'standalone') {
    await tgt.query('SELECT pg_promote(true, 60)');
    done.push('the target promoted: it runs on its own, replicating from nothing');
  }
  if (conninfo) {
    await tgt.query('ALTER SYSTEM RESET primary_conninfo');
    await tgt.query('ALTER SYSTEM RESET primary_slot_name');
    await tgt.query('SELECT pg_reload_conf()');
    done.push("the target's standby settings (primary_conninfo, primary_slot_name) removed");
  }
  const passfile = passfilePath(dir);
  if (await s.ctx.targetHost.exists(passfile)) {
    await s.ctx.targetHost.remove(passfile);
    done.push("the target's replication passfile removed");
  }
}

/** The source forgets the migration: its slots (once nothing reads them), the publication, the heartbeat table. */
async function cleanSource(s: PgSession, done: string[]): Promise<void> {
  const src = await s.source();
  const names = [...new Set([s.inputs.replicationSlot, logicalName(s)])];
  const deadline = Date.now() + 30_000;
  for (;;) {
    const left = await slots(src, names);
    for (const r of left.filter((x) => !x.active)) {
      await src.query('SELECT pg_drop_replication_slot($1)', [r.slot_name]);
      done.push(`replication slot ${r.slot_name} dropped on the source${r.retained ? ` (it held ${formatBytes(Number(r.retained))} of WAL)` : ''}`);
    }
    const active = left.filter((x) => x.active);
    if (!active.length) break;
    if (Date.now() > deadline)
      throw new UserError(
        `replication slot ${active.map((r) => r.slot_name).join(', ')} on the source is still in use after 30 s: something still streams from it (the target, if it still runs as a replica). ` +
          `Stop that, then run abort again; or drop it yourself: SELECT pg_drop_replication_slot('${active[0].slot_name}')`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
  if ((await rows(src, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [logicalName(s)])).length) {
    await src.query(`DROP PUBLICATION ${quoteIdent(logicalName(s))}`);
    done.push(`publication ${logicalName(s)} dropped on the source`);
  }
  if ((await rows(src, 'SELECT to_regclass($1) AS t', [s.inputs.heartbeatTable]))[0]?.t) {
    await src.query(`DROP TABLE ${quoteQualified(s.inputs.heartbeatTable)}`);
    done.push(`heartbeat table ${s.inputs.heartbeatTable} (with its switch rows) dropped on the source`);
  }
}

async function abandon(s: PgSession, mode: 'stop' | 'standalone'): Promise<string[]> {
  const done: string[] = [];
  await detachTarget(s, mode, done);
  // A physical standby still streaming holds the slot: it lets go once stopped (or promoted above).
  if (mode === 'stop') await stopTargetForAbort(s.ctx.targetHost, s.inputs, await s.targetAnswers(), done);
  await cleanSource(s, done);
  return done;
}

export function pgLifecycle(s: PgSession): Lifecycle {
  return { retention: () => retention(s), abandon: (mode) => abandon(s, mode) };
}
