/** Real lag of a MySQL/MariaDB replica: binlog bytes not applied, a heartbeat row's age, and both threads' state. */
import { capitalized, type SideNames } from '../../hosts/endpoint.js';
import type { Heartbeat, LagSample, Replication } from '../engine.js';
import { heartbeatLoop, heartbeatTableError, openHeartbeatClient } from '../heartbeat.js';
import { connectMy, one, rows, type MyConn } from './connect.js';
import { quoteName } from './flavor.js';
import type { MySession } from './session.js';
import { migrationState } from './state.js';
import { UserError } from '../../errors.js';

function qualified(table: string): string {
  const parts = table.split('.');
  if (parts.length !== 2) throw new UserError(`input heartbeat-table must be database.table for MySQL/MariaDB (got ${table})`);
  return parts.map(quoteName).join('.');
}

/** Creates the heartbeat database, table and row on the source when they are not there yet. */
export async function ensureHeartbeatTable(s: MySession, c: MyConn, table: string): Promise<void> {
  try {
    const [db] = table.split('.');
    await c.query(`CREATE DATABASE IF NOT EXISTS ${quoteName(db)}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${qualified(table)} (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL, seq BIGINT NOT NULL) ENGINE=InnoDB`);
    await c.query(`INSERT IGNORE INTO ${qualified(table)} (id, ts, seq) VALUES (1, UTC_TIMESTAMP(6), 0)`);
  } catch (e) {
    throw heartbeatTableError(
      table,
      e,
      `Give database.table (e.g. zdm.heartbeat, the default): zdm creates both, so the ${s.sourceEndpoint.input} user needs CREATE, INSERT and UPDATE there. An existing table of that name must have the columns id INT PRIMARY KEY, ts DATETIME(6), seq BIGINT, or be dropped.`,
      s.names.source,
    );
  }
}

/** Writes the heartbeat row on the source about every 500 ms on a connection of its own. */
export async function startHeartbeat(s: MySession): Promise<Heartbeat> {
  const client = await openHeartbeatClient(
    () => connectMy(s.sourceEndpoint.connectUrl, { input: s.sourceEndpoint.input, trips: s.sourceEndpoint.trips, side: 'source' }),
    (c) => c.end(),
    (c) => ensureHeartbeatTable(s, c, s.inputs.heartbeatTable),
  );
  const table = qualified(s.inputs.heartbeatTable);
  let seq = Date.now();
  return heartbeatLoop(
    async () => {
      await client.query(`UPDATE ${table} SET ts = UTC_TIMESTAMP(6), seq = ? WHERE id = 1`, [++seq]);
    },
    () => client.end(),
  );
}

/** Bytes from (fileA, posA) to (fileB, posB) using the source's binlog sizes. */
export function binlogDistance(logs: { name: string; size: number }[], from: { file: string; pos: number }, to: { file: string; pos: number }): number {
  if (from.file === to.file) return Math.max(0, to.pos - from.pos);
  const i = logs.findIndex((l) => l.name === from.file);
  const j = logs.findIndex((l) => l.name === to.file);
  if (i < 0 || j < 0 || j < i) return Number.MAX_SAFE_INTEGER;
  let total = logs[i].size - from.pos;
  for (let k = i + 1; k < j; k++) total += logs[k].size;
  return total + to.pos;
}

/** A binlog position as bytes from the start of the oldest binlog the source still has. */
export function binlogOffset(logs: { name: string; size: number }[], at: { file: string; pos: number }): number | undefined {
  const i = logs.findIndex((l) => l.name === at.file);
  if (i < 0) return undefined;
  return logs.slice(0, i).reduce((sum, l) => sum + l.size, 0) + at.pos;
}

/** Replication errors that waiting will not heal, with what to do about them. */
export function fatalReplicationError(
  s: { names: SideNames },
  ioErrno: number,
  ioError: string,
  sqlErrno: number,
  sqlError: string,
  sqlRunning: string,
): string | undefined {
  if (sqlErrno && sqlRunning !== 'Yes') {
    return `the replica's SQL thread stopped on error ${sqlErrno}: ${sqlError}. ${capitalized(s.names.target)} has diverged from ${s.names.source} (a row changed on it, or a statement that cannot apply): find the cause in ${s.names.target}'s error log, then seed ${s.names.target} again; zdm will not skip transactions for you.`;
  }
  // Stopped by hand (STOP REPLICA SQL_THREAD): waiting cannot close the lag, and heartbeat rows still arrive in the relay log unapplied.
  if (sqlRunning === 'No') {
    return `the replica's SQL thread on ${s.names.target} is stopped, without an error (STOP REPLICA SQL_THREAD): nothing ${s.names.source} writes is applied while it is. Run START REPLICA SQL_THREAD on ${s.names.target}, then this step again.`;
  }
  if (ioErrno === 1236) {
    return `${s.names.source} cannot send what the replica needs (error 1236: ${ioError}). ${capitalized(s.names.source)} no longer has the binlog or GTID position ${s.names.target} would continue from (purged, or a position ${s.names.source} never had): seed ${s.names.target} again.`;
  }
  if (ioErrno === 1045 || ioErrno === 1227) {
    return `${s.names.source} refused the replication user (error ${ioErrno}: ${ioError}): check replication-user, its password and its REPLICATION SLAVE privilege, then seed again.`;
  }
  return undefined;
}

export async function measureLag(s: MySession): Promise<LagSample> {
  const at = Date.now();
  const flavor = await s.flavor();
  const c = flavor.columns;
  const src = await s.source();
  const tgt = await s.target();
  const [status, logs, clock] = await Promise.all([
    one(src, flavor.showBinlogStatus),
    rows<{ Log_name: string; File_size: string }>(src, 'SHOW BINARY LOGS'),
    one<{ now: string }>(src, "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS now"),
  ]);
  const st = (await rows(tgt, flavor.showReplicaStatus))[0];
  if (!st) {
    return {
      at,
      bytes: 0,
      seconds: undefined,
      streaming: false,
      detail: `${s.names.target} has no replication configured`,
      fatal: `${s.names.target} is not a replica (no replication configured): run seed-replica first`,
    };
  }
  const io = String(st[c.ioRunning]);
  const sql = String(st[c.sqlRunning]);
  const binlogs = logs.map((l) => ({ name: l.Log_name, size: Number(l.File_size) }));
  const applied = { file: String(st[c.relaySourceLogFile]), pos: Number(st[c.execSourceLogPos]) };
  const received = { file: String(st[c.sourceLogFile]), pos: Number(st[c.readSourceLogPos]) };
  const current = { file: String(status.File), pos: Number(status.Position) };
  const bytes = binlogDistance(binlogs, applied, current);
  const offsets = [current, received, applied].map((p) => binlogOffset(binlogs, p));
  let seconds: number | undefined;
  const hb = await rows<{ ts: string }>(
    tgt,
    `SELECT DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%fZ') AS ts FROM ${qualified(s.inputs.heartbeatTable)} WHERE id = 1`,
  ).catch(() => []);
  if (hb[0]) seconds = Math.max(0, (Date.parse(clock.now) - Date.parse(hb[0].ts)) / 1000);
  const sbm = st[c.secondsBehind];
  const detail = [
    `source at ${status.File}:${status.Position}`,
    `target applied ${st[c.relaySourceLogFile]}:${st[c.execSourceLogPos]}, read ${st[c.sourceLogFile]}:${st[c.readSourceLogPos]}`,
    `IO thread ${io}, SQL thread ${sql}`,
    `${c.secondsBehind} ${sbm === null ? 'NULL' : sbm} (shown, not trusted)`,
    ...(st[c.lastIoError] ? [`last IO error: ${st[c.lastIoError]}`] : []),
    ...(st[c.lastSqlError] ? [`last SQL error: ${st[c.lastSqlError]}`] : []),
  ].join('; ');
  const fatal = fatalReplicationError(
    s,
    Number(st[c.lastIoErrno]),
    String(st[c.lastIoError] ?? ''),
    Number(st[c.lastSqlErrno]),
    String(st[c.lastSqlError] ?? ''),
    sql,
  );
  const positions = offsets.every((o) => o !== undefined) ? { source: offsets[0]!, received: offsets[1]!, applied: offsets[2]! } : undefined;
  return { at, bytes, seconds, streaming: io === 'Yes' && sql === 'Yes', detail, fatal, positions };
}

/** The replication stream while the target catches up: heartbeat, binlog lag, the servers' real state. */
export function myReplication(s: MySession): Replication {
  return {
    startHeartbeat: () => startHeartbeat(s),
    measureLag: () => measureLag(s),
    migrationState: () => migrationState(s),
  };
}
