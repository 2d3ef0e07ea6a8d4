/** Real lag of a PostgreSQL standby: WAL bytes not replayed, and a heartbeat row's age. */
import type { Heartbeat, LagSample, Replication } from '../engine.js';
import { heartbeatLoop, heartbeatTableError, openHeartbeatClient } from '../heartbeat.js';
import { connectPg, one, quoteQualified, rows, type PgClient } from './connect.js';
import { lsnDiff, parseLsn } from './lsn.js';
import type { PgSession } from './session.js';
import { migrationState } from './state.js';

/** Creates the heartbeat table and its row on the source, when they are not there yet. */
export async function ensureHeartbeatTable(s: PgSession, c: PgClient, table: string): Promise<void> {
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY, ts timestamptz NOT NULL, seq bigint NOT NULL)`);
    await c.query(`INSERT INTO ${table} (id, ts, seq) VALUES (1, clock_timestamp(), 0) ON CONFLICT (id) DO NOTHING`);
  } catch (e) {
    throw heartbeatTableError(
      table.replace(/"/g, ''),
      e,
      `Name a table in a schema that exists on ${s.names.source} (e.g. public.zdm_heartbeat, the default) or create the schema first; the ${s.sourceEndpoint.input} user needs CREATE on that schema. An existing table of that name must have the columns id int PRIMARY KEY, ts timestamptz, seq bigint, or be dropped.`,
      s.names.source,
    );
  }
}

/** Writes the heartbeat row on the source about every 500 ms on a connection of its own. */
export async function startHeartbeat(s: PgSession): Promise<Heartbeat> {
  const table = quoteQualified(s.inputs.heartbeatTable);
  const client = await openHeartbeatClient(
    () =>
      connectPg(s.sourceEndpoint.connectUrl, {
        input: s.sourceEndpoint.input,
        trips: s.sourceEndpoint.trips,
        side: 'source',
        applicationName: 'zdm_heartbeat',
      }),
    (c) => c.end(),
    (c) => ensureHeartbeatTable(s, c, table),
  );
  let seq = Date.now();
  return heartbeatLoop(
    async () => {
      await client.query(
        `INSERT INTO ${table} (id, ts, seq) VALUES (1, clock_timestamp(), $1) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts, seq = EXCLUDED.seq`,
        [++seq],
      );
    },
    () => client.end(),
  );
}

export async function measureLag(s: PgSession): Promise<LagSample> {
  const at = Date.now();
  const src = await s.source();
  const tgt = await s.target();
  const table = quoteQualified(s.inputs.heartbeatTable);
  const [so, to] = await Promise.all([
    one<{ lsn: string; now: Date; sent: string | null; state: string | null; slot_status: string | null }>(
      src,
      `SELECT pg_current_wal_lsn()::text AS lsn, clock_timestamp() AS now,
              (SELECT r.state FROM pg_stat_replication r JOIN pg_replication_slots sl ON sl.active_pid = r.pid WHERE sl.slot_name = $1) AS state,
              (SELECT r.sent_lsn::text FROM pg_stat_replication r JOIN pg_replication_slots sl ON sl.active_pid = r.pid WHERE sl.slot_name = $1) AS sent,
              (SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1) AS slot_status`,
      [s.inputs.replicationSlot],
    ),
    one<{ rec: boolean; paused: boolean | null; replay: string | null; receive: string | null; status: string | null; last_msg: Date | null }>(
      tgt,
      `SELECT pg_is_in_recovery() AS rec, CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused,
              pg_last_wal_replay_lsn()::text AS replay, pg_last_wal_receive_lsn()::text AS receive,
              (SELECT status FROM pg_stat_wal_receiver) AS status, (SELECT last_msg_receipt_time FROM pg_stat_wal_receiver) AS last_msg`,
    ),
  ]);
  if (!to.rec) {
    return {
      at,
      bytes: 0,
      seconds: undefined,
      streaming: false,
      detail: `${s.names.target} is not in recovery`,
      fatal: `${s.names.target} is not a standby (it was promoted or never seeded): run seed-replica first`,
    };
  }
  let seconds: number | undefined;
  const hb = await rows<{ ts: Date }>(tgt, `SELECT ts FROM ${table} WHERE id = 1`).catch(() => []);
  if (hb[0]) seconds = Math.max(0, (so.now.getTime() - hb[0].ts.getTime()) / 1000);
  const bytes = to.replay ? lsnDiff(so.lsn, to.replay) : Number.MAX_SAFE_INTEGER;
  const streaming = to.status === 'streaming';
  const detail = [
    `source at ${so.lsn}`,
    `target received ${to.receive ?? 'nothing'}, replayed ${to.replay ?? 'nothing'}`,
    `wal receiver ${to.status ?? 'not running'}`,
    `source walsender ${so.state ?? 'not connected'}${so.sent ? ` (sent ${so.sent})` : ''}`,
  ].join('; ');
  const fatal =
    so.slot_status === 'lost'
      ? `replication slot ${s.inputs.replicationSlot} has lost WAL ${s.names.target} still needs (wal_status = lost): ${s.names.target} cannot catch up and must be seeded again`
      : to.paused
        ? // Waiting would only reach the timeout: a paused standby receives WAL but applies none until resumed.
          `WAL replay is paused on ${s.names.target} (pg_is_wal_replay_paused() is true: someone ran pg_wal_replay_pause(), or a recovery target paused it), so it applies nothing however long zdm waits. Resume it on ${s.names.target} with SELECT pg_wal_replay_resume(); then run this step again`
        : undefined;
  const positions =
    to.replay && to.receive ? { source: Number(parseLsn(so.lsn)), received: Number(parseLsn(to.receive)), applied: Number(parseLsn(to.replay)) } : undefined;
  return { at, bytes, seconds, streaming, detail, fatal, positions };
}

/** The replication stream while the target catches up: heartbeat, WAL lag, the servers' real state. */
export function pgReplication(s: PgSession): Replication {
  return {
    startHeartbeat: () => startHeartbeat(s),
    measureLag: () => measureLag(s),
    migrationState: () => migrationState(s),
  };
}
