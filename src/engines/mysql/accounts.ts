/**
 * Copies the source's accounts and their grants to the target after a logical copy (mydumper 0.10
 * copies no accounts; the mysql schema is not dumped). Password hashes travel inside the statements
 * and are never logged. Left out, and said so: the servers' own system accounts, anonymous and
 * local root accounts, the source-url account (zdm's admin on the source; target-url is the
 * target's), and any account the target already has (its own admin stays as it is). The
 * replication account is copied: reverse replication logs into the new primary with it.
 */
import { rows, type MyConn } from './connect.js';
import { quoteString, type Flavor } from './flavor.js';
import type { MySession } from './session.js';

const SYSTEM_USERS = new Set(['mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'PUBLIC']);
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

interface Account {
  user: string;
  host: string;
  role: boolean;
}

const name = (a: { user: string; host: string }) => `${quoteString(a.user)}@${quoteString(a.host)}`;
const label = (a: { user: string; host: string }) => (a.host ? `'${a.user}'@'${a.host}'` : a.user);

async function accounts(c: MyConn, flavor: Flavor): Promise<Account[]> {
  const roleCol = flavor.name === 'mariadb' ? "is_role = 'Y'" : '0';
  const r = await rows<{ u: string; h: string; r: number | string }>(c, `SELECT User AS u, Host AS h, ${roleCol} AS r FROM mysql.user`);
  return r.map((x) => ({ user: String(x.u), host: String(x.h), role: Number(x.r) === 1 }));
}

/** Why an account is not copied, or undefined when it is. */
function skipReason(a: Account, onTarget: Set<string>, own: string, hostname: string): string | undefined {
  if (SYSTEM_USERS.has(a.user)) return 'system account';
  if (a.user === '') return 'anonymous account';
  if (a.user === 'root' && (LOCAL_HOSTS.has(a.host) || a.host === hostname)) return "the source's local admin";
  if (`${a.user}@${a.host}` === own) return "zdm's own login on the source (source-url)";
  if (onTarget.has(`${a.user}@${a.host}`)) return 'the target has its own';
  return undefined;
}

/** The statements that recreate `a` (CREATE USER/ROLE, then its grants), read on the source. */
async function recreate(src: MyConn, a: Account): Promise<{ create: string; grants: string[] }> {
  const first = a.role ? `CREATE ROLE IF NOT EXISTS ${quoteString(a.user)}` : Object.values((await rows(src, `SHOW CREATE USER ${name(a)}`))[0])[0];
  const grants = (await rows(src, a.role ? `SHOW GRANTS FOR ${quoteString(a.user)}` : `SHOW GRANTS FOR ${name(a)}`)).map((r) => String(Object.values(r)[0]));
  return { create: String(first), grants };
}

export interface AccountsCopied {
  copied: string[];
  skipped: string[];
  failed: string[];
}

/** Recreates the copied accounts on the target without binary logging (the copy itself is not logged either). */
export async function copyAccounts(s: MySession, src: MyConn, tgt: MyConn, flavor: Flavor): Promise<AccountsCopied> {
  const [all, theirs] = await Promise.all([accounts(src, flavor), accounts(tgt, flavor)]);
  const onTarget = new Set(theirs.map((a) => `${a.user}@${a.host}`));
  const [{ me, hn }] = await rows<{ me: string; hn: string }>(src, 'SELECT CURRENT_USER() AS me, @@hostname AS hn');
  const own = String(me);
  const out: AccountsCopied = { copied: [], skipped: [], failed: [] };
  const todo: Account[] = [];
  for (const a of all) {
    const why = skipReason(a, onTarget, own, String(hn));
    if (why) out.skipped.push(`${label(a)} (${why})`);
    else todo.push(a);
  }
  // Roles first: a user's grants may name them.
  todo.sort((x, y) => Number(y.role) - Number(x.role));
  const plans = await Promise.all(todo.map(async (a) => ({ a, ...(await recreate(src, a)) })));
  await tgt.query('SET SESSION sql_log_bin = 0');
  try {
    for (const p of plans) await run(tgt, [p.create], p.a, out);
    for (const p of plans) if (await run(tgt, p.grants, p.a, out)) out.copied.push(label(p.a));
  } finally {
    await tgt.query('SET SESSION sql_log_bin = 1');
  }
  report(s, out);
  return out;
}

/** Runs one account's statements; a failure is named by account and error code only (statements hold password hashes). */
async function run(tgt: MyConn, stmts: string[], a: Account, out: AccountsCopied): Promise<boolean> {
  try {
    for (const stmt of stmts) await tgt.query(stmt);
    return true;
  } catch (e) {
    const err = e as { code?: string; errno?: number };
    out.failed.push(`${label(a)} (${err.code ?? 'error'} ${err.errno ?? ''})`.trim());
    return false;
  }
}

function report(s: MySession, out: AccountsCopied): void {
  const { log } = s.ctx;
  log.info(`accounts copied to the target: ${out.copied.join(', ') || 'none'}`);
  if (out.skipped.length) log.info(`accounts not copied: ${out.skipped.join(', ')}`);
  if (out.failed.length)
    log.warn(
      `accounts that could not be created on the target: ${out.failed.join(', ')}. Create them there yourself (SHOW CREATE USER and SHOW GRANTS on the source) before cutover, or the application cannot log in to the new primary.`,
    );
}
