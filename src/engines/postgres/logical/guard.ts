/**
 * The target must take no application write before cutover: a write there would either collide
 * with a replicated row (and stop the subscription) or be silently overwritten. During catch-up
 * every login role the target has, except zdm's own (target-url's, which owns the subscription and
 * whose apply and table-sync workers therefore never read another role's settings), gets
 * default_transaction_read_only = on as a role setting, marked so that cutover lifts exactly these.
 * It stops mistakes (an application pointed at the target too early), not a determined session:
 * any session can SET it off again.
 */
import { quoteIdent, rows, type PgClient } from '../connect.js';

const MARK = 'zdm.read_only_until_cutover';

/** Makes every other login role read-only on the target; roles with a read-only setting of their own are left alone. */
export async function guardTarget(tgt: PgClient): Promise<string[]> {
  const roles = await rows<{ rolname: string }>(
    tgt,
    `SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND r.rolname <> current_user
       AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0
                       AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'default_transaction_read_only=%'))
     ORDER BY 1`,
  );
  for (const r of roles) {
    await tgt.query(`ALTER ROLE ${quoteIdent(r.rolname)} SET ${MARK} = 'on'`);
    await tgt.query(`ALTER ROLE ${quoteIdent(r.rolname)} SET default_transaction_read_only = on`);
  }
  return roles.map((r) => r.rolname);
}

/** Gives the roles guardTarget marked their writes back (idempotent: none marked, nothing done). */
export async function liftGuard(tgt: PgClient): Promise<string[]> {
  const roles = await rows<{ rolname: string }>(
    tgt,
    'SELECT DISTINCT r.rolname FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0 AND $1 = ANY(s.setconfig) ORDER BY 1',
    [`${MARK}=on`],
  );
  for (const r of roles) {
    await tgt.query(`ALTER ROLE ${quoteIdent(r.rolname)} RESET default_transaction_read_only`);
    await tgt.query(`ALTER ROLE ${quoteIdent(r.rolname)} RESET ${MARK}`);
  }
  return roles.map((r) => r.rolname);
}
