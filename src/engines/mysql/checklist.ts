/** What preflight and post-cutover ask of a MySQL/MariaDB server: limits, clock, the new primary's state. */
import type { DurabilitySetting, Inspection, PrimaryState, ServerIdentity, ServerLimits } from '../engine.js';
import { connectMy, one, rows, variables, type MyConn } from './connect.js';
import type { MySession } from './session.js';

const on = (which: 'source' | 'target', s: MySession): Promise<MyConn> => (which === 'source' ? s.source() : s.target());

export async function serverLimits(s: MySession, which: 'source' | 'target'): Promise<ServerLimits> {
  const r = await one<{ version: string; max: string; errors: string }>(
    await on(which, s),
    'SELECT VERSION() AS version, @@GLOBAL.max_connections AS max, @@GLOBAL.max_connect_errors AS errors',
  );
  // MySQL keeps one connection beyond max_connections for CONNECTION_ADMIN, MariaDB its extra_port: none is taken from the pool.
  return { version: r.version, maxConnections: Number(r.max), reservedConnections: 0, preAuthErrorLimit: Number(r.errors) };
}

export async function freshLogin(s: MySession, which: 'source' | 'target'): Promise<void> {
  const e = s.endpoint(which);
  const c = await connectMy(e.connectUrl, { input: e.input, side: which });
  await c.end();
}

export async function serverNow(s: MySession, which: 'source' | 'target'): Promise<number> {
  const { now } = await one<{ now: string }>(await on(which, s), "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS now");
  return Date.parse(now);
}

export async function newPrimaryState(s: MySession): Promise<PrimaryState> {
  const t = await s.target();
  const flavor = await s.flavor();
  const v = await variables(t, ['read_only', 'super_read_only', 'innodb_flush_log_at_trx_commit', 'sync_binlog', 'log_bin']);
  const isOn = (x: string | undefined) => x === 'ON' || x === '1';
  const replica = (await rows(t, flavor.showReplicaStatus))[0];
  const c = flavor.columns;
  let notWritable: string | undefined;
  if (isOn(v.super_read_only))
    notWritable = 'super_read_only is ON: SET GLOBAL super_read_only = OFF, read_only = OFF (and remove them from the configuration).';
  else if (isOn(v.read_only)) notWritable = 'read_only is ON: SET GLOBAL read_only = OFF (and remove it from the configuration).';
  else if (replica && (replica[c.ioRunning] === 'Yes' || replica[c.sqlRunning] === 'Yes'))
    notWritable = `it still replicates from another server (${flavor.showReplicaStatus}: IO ${String(replica[c.ioRunning])}, SQL ${String(replica[c.sqlRunning])}): run cutover, or ${flavor.stopReplica}; ${flavor.resetReplicaAll} once you are sure it is the primary.`;
  const durability: DurabilitySetting[] = [
    {
      name: 'innodb_flush_log_at_trx_commit',
      value: v.innodb_flush_log_at_trx_commit,
      durable: v.innodb_flush_log_at_trx_commit === '1',
      fix: "SET GLOBAL innodb_flush_log_at_trx_commit = 1, and remove any other value from the configuration (tune-target's option file: pass its `tuning` output to cutover)",
    },
  ];
  if (isOn(v.log_bin))
    durability.push({
      name: 'sync_binlog',
      value: v.sync_binlog,
      durable: v.sync_binlog === '1',
      fix: 'SET GLOBAL sync_binlog = 1, and remove any other value from the configuration',
    });
  const dumps = await rows<{ host: string; cmd: string }>(
    t,
    "SELECT HOST AS host, COMMAND AS cmd FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
  );
  return { notWritable, durability, replicas: dumps.map((d) => ({ name: `${d.host} (${d.cmd})`, streaming: true })) };
}

/** What preflight, the checklist and post-cutover read of either side. */
export function myInspection(s: MySession): Inspection {
  return {
    serverLimits: (which) => serverLimits(s, which),
    freshLogin: (which) => freshLogin(s, which),
    serverNow: (which) => serverNow(s, which),
    newPrimaryState: () => newPrimaryState(s),
    identity: (which) => identity(s, which),
    sourceSize: async () =>
      Number(
        (
          await one<{ n: string | null }>(
            await s.source(),
            'SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS CHAR) AS n FROM information_schema.tables',
          )
        ).n ?? 0,
      ),
    readSample: async (bytes) => {
      await (await s.source()).query('SELECT REPEAT(?, ?) AS x', ['x', bytes]);
    },
  };
}

/** server_uuid where the server has one (MySQL), else server_id (MariaDB has no uuid). */
export async function identity(s: MySession, which: 'source' | 'target'): Promise<ServerIdentity> {
  const v = await variables(await on(which, s), ['server_uuid', 'server_id', 'version', 'hostname', 'port']);
  const host = `${v.hostname ?? '?'}:${v.port ?? '?'}`;
  if (v.server_uuid) return { idName: 'server_uuid', id: v.server_uuid, serverId: v.server_id, version: v.version, host };
  return { idName: 'server_id', id: v.server_id, version: v.version, host };
}
