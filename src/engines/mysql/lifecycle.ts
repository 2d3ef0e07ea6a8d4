/**
 * A MySQL/MariaDB migration's life around the switch: the binlogs the source must keep for the
 * replica while the migration waits (status), and abandoning the migration before promotion
 * (abort): the replica configuration and its stored password go from the target, the heartbeat
 * table from the source. The source's binlogs and grants are left as they are (zdm made neither).
 */
import { describeError } from '../../errors.js';
import { stopTargetForAbort } from '../data-dir.js';
import type { Lifecycle, Retention } from '../engine.js';
import { one, rows, type MyConn } from './connect.js';
import { quoteName } from './flavor.js';
import { binlogDistance, binlogOffset } from './lag.js';
import type { MySession } from './session.js';

async function variable(c: MyConn, name: string): Promise<string | undefined> {
  const r = await rows<{ Value: string }>(c, 'SHOW GLOBAL VARIABLES LIKE ?', [name]);
  return r[0]?.Value;
}

/** How long the source keeps binlogs, in words, and whether that is a bound at all. */
async function expiry(src: MyConn): Promise<{ text: string; seconds: number | undefined }> {
  const secs = Number((await variable(src, 'binlog_expire_logs_seconds')) ?? 0);
  const days = Number((await variable(src, 'expire_logs_days')) ?? 0);
  const seconds = secs > 0 ? secs : days > 0 ? days * 86400 : undefined;
  return { text: seconds === undefined ? 'binlogs never expire' : `binlogs expire after ${(seconds / 3600).toFixed(1)} h`, seconds };
}

async function retention(s: MySession): Promise<Retention> {
  const flavor = await s.flavor();
  const c = flavor.columns;
  const src = await s.source();
  const [status, logs, dirVar] = await Promise.all([
    one(src, flavor.showBinlogStatus),
    rows<{ Log_name: string; File_size: string }>(src, 'SHOW BINARY LOGS'),
    variable(src, 'log_bin_basename'),
  ]);
  const binlogs = logs.map((l) => ({ name: l.Log_name, size: Number(l.File_size) }));
  const current = { file: String(status.File), pos: Number(status.Position) };
  const written = binlogOffset(binlogs, current) ?? 0;
  const exp = await expiry(src);
  const base = {
    writtenBytes: written,
    dir: dirVar ? dirVar.replace(/\/[^/]*$/, '') : undefined,
    limit: exp.text,
    warnings: [] as string[],
  };
  let st: Record<string, unknown> | undefined;
  try {
    st = (await rows(await s.target(), flavor.showReplicaStatus))[0];
  } catch (e) {
    return {
      ...base,
      retainedBytes: undefined,
      holder: `the target is not reachable (${describeError(e)}): which binlogs it still needs cannot be told`,
      active: false,
      warnings: [`the source keeps its binlogs only for as long as its expiry allows (${exp.text}); a replica that is down past that must be seeded again`],
    };
  }
  if (!st) return { ...base, retainedBytes: 0, holder: '', active: false };
  // The oldest binlog the replica still needs: the one its SQL thread applies from.
  const needed = { file: String(st[c.relaySourceLogFile]), pos: Number(st[c.execSourceLogPos]) };
  const have = binlogs.some((l) => l.name === needed.file);
  const retained = have ? binlogDistance(binlogs, needed, current) : undefined;
  const active = String(st[c.ioRunning]) === 'Yes';
  const warnings = [...base.warnings];
  if (exp.seconds === undefined)
    warnings.push(
      `the source never purges its binlogs by age (${exp.text}): they grow with every write until its disk fills. Set binlog_expire_logs_seconds on the source to more than the time until cutover (e.g. SET PERSIST binlog_expire_logs_seconds = 604800); a replica that falls behind past it must be seeded again`,
    );
  else
    warnings.push(
      `the source purges binlogs after ${(exp.seconds / 3600).toFixed(1)} h: a replica stopped for longer loses what it still needs and must be seeded again; raise binlog_expire_logs_seconds if cutover is further away than that`,
    );
  return {
    ...base,
    retainedBytes: retained,
    holder: `the replica's position ${needed.file}:${needed.pos} (IO thread ${String(st[c.ioRunning])}, SQL thread ${String(st[c.sqlRunning])})`,
    active,
    warnings,
    lost: have ? undefined : `the source no longer has binlog ${needed.file}, which the replica still needs (purged): the target must be seeded again`,
  };
}

async function detachTarget(s: MySession, done: string[]): Promise<void> {
  let tgt: MyConn;
  try {
    tgt = await s.target();
  } catch (e) {
    s.ctx.log.warn(
      `the target is not reachable (${describeError(e)}): nothing removed there (a target that abort stopped already lost its replication settings; otherwise run abort again once it runs)`,
    );
    return;
  }
  const flavor = await s.flavor();
  const st = (await rows(tgt, flavor.showReplicaStatus))[0];
  if (!st) return;
  await tgt.query(flavor.stopReplica);
  await tgt.query(flavor.resetReplicaAll);
  done.push(`the target's replication stopped and its configuration, with the stored replication password, removed (${flavor.resetReplicaAll})`);
}

async function cleanSource(s: MySession, done: string[]): Promise<void> {
  const src = await s.source();
  const [db, table] = s.inputs.heartbeatTable.split('.');
  const exists = await rows(src, 'SELECT 1 AS x FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [db, table]);
  if (exists.length) {
    await src.query(`DROP TABLE ${quoteName(db)}.${quoteName(table)}`);
    done.push(`heartbeat table ${s.inputs.heartbeatTable} (with its switch rows) dropped on the source`);
  }
  // zdm created the heartbeat's database when it was missing: it goes once nothing else is in it.
  const left = await rows(src, 'SELECT 1 AS x FROM information_schema.tables WHERE table_schema = ? LIMIT 1', [db]);
  const schema = await rows(src, 'SELECT 1 AS x FROM information_schema.schemata WHERE schema_name = ?', [db]);
  if (db === 'zdm' && schema.length && !left.length) {
    await src.query(`DROP DATABASE ${quoteName(db)}`);
    done.push(`the empty database ${db} dropped on the source`);
  }
}

async function abandon(s: MySession, mode: 'stop' | 'standalone'): Promise<string[]> {
  const done: string[] = [];
  await detachTarget(s, done);
  if (mode === 'stop') await stopTargetForAbort(s.ctx.targetHost, s.inputs, await s.targetAnswers(), done);
  await cleanSource(s, done);
  return done;
}

export function myLifecycle(s: MySession): Lifecycle {
  return { retention: () => retention(s), abandon: (mode) => abandon(s, mode) };
}
