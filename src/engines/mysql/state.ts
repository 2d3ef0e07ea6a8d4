/** The real state of a MySQL/MariaDB source and target, read before a step acts (see MigrationState). */
import type { MigrationState } from '../engine.js';
import { connectMy, one, rows, type MyConn } from './connect.js';
import type { MySession } from './session.js';
import { accountsFenced } from './account-fence.js';

async function tryConnect(url: URL | undefined, input: string): Promise<MyConn | undefined> {
  if (!url) return undefined;
  return connectMy(url, { input, timeoutMs: 5000 }).catch(() => undefined);
}

export async function migrationState(s: MySession): Promise<MigrationState> {
  const detail: string[] = [];
  const state: MigrationState = { target: 'unreachable', seededByZdm: false, source: 'unreachable', detail: '' };
  const tgt = await tryConnect(s.targetEndpoint.connectUrl, s.targetEndpoint.input);
  if (tgt) {
    try {
      const flavor = await s.flavor();
      const c = flavor.columns;
      const st = (await rows(tgt, flavor.showReplicaStatus))[0];
      if (!st) state.target = 'primary';
      else state.target = st[c.ioRunning] === 'Yes' && st[c.sqlRunning] === 'Yes' ? 'streaming-replica' : 'broken-replica';
      const [db, table] = s.inputs.heartbeatTable.split('.');
      const hb = await rows(tgt, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [db, table]);
      state.seededByZdm = hb.length > 0;
      detail.push(
        st ? `target is a replica (IO thread ${st[c.ioRunning]}, SQL thread ${st[c.sqlRunning]})` : 'target is a primary (no replication configured)',
      );
    } finally {
      await tgt.end().catch(() => undefined);
    }
  } else detail.push('target does not accept connections');
  const src = await tryConnect(s.ctx.source?.connectUrl, s.ctx.source?.input ?? 'source-url');
  if (src) {
    try {
      const { ro } = await one<{ ro: string }>(src, 'SELECT @@GLOBAL.read_only AS ro');
      // fence: accounts leaves read_only alone: its mark on the source tells it is up.
      const locked = s.inputs.fence === 'accounts' && (await accountsFenced(s, src));
      state.source = Number(ro) === 1 || locked ? 'fenced' : 'writable';
      detail.push(Number(ro) === 1 ? 'source is read_only' : locked ? "source's application accounts are locked (fence: accounts)" : 'source takes writes');
    } finally {
      await src.end().catch(() => undefined);
    }
  } else detail.push('source does not accept connections');
  state.detail = detail.join('; ');
  return state;
}
