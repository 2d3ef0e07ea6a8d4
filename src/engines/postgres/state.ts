/** The real state of a PostgreSQL source and target, read before a step acts (see MigrationState). */
import type { MigrationState } from '../engine.js';
import { connectPg, one, type PgClient } from './connect.js';
import type { PgSession } from './session.js';

async function tryConnect(url: URL | undefined, input: string): Promise<PgClient | undefined> {
  if (!url) return undefined;
  return connectPg(url, { input, timeoutMs: 5000 }).catch(() => undefined);
}

/** What a primary target with zdm's subscription is (logical/lag.ts), undefined for any other primary. */
export type LogicalTargetState = (s: PgSession) => Promise<{ target: MigrationState['target']; detail: string } | undefined>;

/** `logical`: given where the logical method is laid over (logical/index.ts), so that this module does not import it. */
export async function migrationState(s: PgSession, logicalTargetState?: LogicalTargetState): Promise<MigrationState> {
  const detail: string[] = [];
  const state: MigrationState = { target: 'unreachable', seededByZdm: false, source: 'unreachable', detail: '' };
  const tgt = await tryConnect(s.targetEndpoint.connectUrl, s.targetEndpoint.input);
  if (tgt) {
    try {
      const t = await one<{ rec: boolean; status: string | null; hb: string | null }>(
        tgt,
        'SELECT pg_is_in_recovery() AS rec, (SELECT status FROM pg_stat_wal_receiver) AS status, to_regclass($1)::text AS hb',
        [s.inputs.heartbeatTable],
      );
      state.target = !t.rec ? 'primary' : t.status === 'streaming' ? 'streaming-replica' : 'broken-replica';
      state.seededByZdm = t.hb !== null;
      // A primary with zdm's subscription is a logical replica until cutover drops the subscription.
      const logical = t.rec || !logicalTargetState ? undefined : await logicalTargetState(s).catch(() => undefined);
      if (logical) state.target = logical.target;
      detail.push(
        logical ? logical.detail : t.rec ? `target is a standby (WAL receiver ${t.status ?? 'not running'})` : 'target is a primary (not in recovery)',
      );
    } finally {
      await tgt.end().catch(() => undefined);
    }
  } else detail.push('target does not accept connections');
  const src = await tryConnect(s.ctx.source?.connectUrl, s.ctx.source?.input ?? 'source-url');
  if (src) {
    try {
      // reset_val ignores a session's own SET: it is what new sessions get, the fence's ALTER SYSTEM included.
      const r = await one<{ ro: string }>(src, "SELECT reset_val AS ro FROM pg_settings WHERE name = 'default_transaction_read_only'");
      state.source = r.ro === 'on' ? 'fenced' : 'writable';
      detail.push(r.ro === 'on' ? 'source is read-only (default_transaction_read_only = on)' : 'source takes writes');
    } finally {
      await src.end().catch(() => undefined);
    }
  } else detail.push('source does not accept connections');
  state.detail = detail.join('; ');
  return state;
}
