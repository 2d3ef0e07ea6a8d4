/**
 * `fence: accounts`: a MySQL/MariaDB fence for sources whose admin has no SUPER (managed services),
 * which can neither set read_only nor hold FLUSH TABLES WITH READ LOCK. The application accounts are
 * locked (ALTER USER … ACCOUNT LOCK, which needs CREATE USER), their sessions ended with kill-command,
 * and the fence holds only once no session of theirs is left. The account in source-url stays
 * unlocked: zdm itself writes nothing there after the final position (the heartbeat stops before the
 * fence). ALTER USER is written to the binlog, so the target receives the locks: promotion unlocks
 * them there again, outside the binlog where the target's admin may, so that reverse replication
 * never carries the unlock back to the old source.
 */
import { FenceError, markSwitch, type Fence } from '../engine.js';
import { InputError, SafetyError, UserError, describeError } from '../../errors.js';
import { connectMy, rows, type MyConn } from './connect.js';
import { quoteName, quoteString, type Flavor } from './flavor.js';
import { ownPrivileges } from './privileges.js';
import type { MySession } from './session.js';

/** An account as MySQL/MariaDB names it: user@host. */
export interface Account {
  user: string;
  host: string;
}

/** What the accounts fence keeps to lift itself: the accounts this fence locked (not those locked before it). */
export interface AccountFenceUndo {
  accounts: Account[];
}

export const accountLabel = (a: Account): string => `'${a.user}'@'${a.host}'`;
const accountSql = (a: Account): string => `${quoteString(a.user)}@${quoteString(a.host)}`;

/** Accounts that belong to the server or its service, never to the application. */
const SYSTEM_USERS = /^(root|mariadb\.sys|mysql\..*|PUBLIC|rdsadmin|rdsrepladmin|azure_superuser|cloudsql.*)$/;

/**
 * Privileges an application account must not hold: with them a session could undo the fence
 * (unlock accounts, end zdm's sessions, write past what the fence stops), or, for REPLICATION
 * SLAVE, the account is the replication user and locking it would cut the target's stream.
 */
const CANNOT_FENCE = ['SUPER', 'CREATE USER', 'CONNECTION ADMIN', 'CONNECTION_ADMIN', 'READ_ONLY ADMIN', 'SYSTEM_USER', 'REPLICATION SLAVE'];

/** Global privileges that cannot change data: a session holding only these is no writer. */
const READ_ONLY_PRIVILEGES = new Set([
  'USAGE',
  'SELECT',
  'SHOW VIEW',
  'SHOW DATABASES',
  'PROCESS',
  'REPLICATION CLIENT',
  'BINLOG MONITOR',
  'SLAVE MONITOR',
  'REPLICA MONITOR',
  'REPLICATION SLAVE',
]);

/** How long the fence keeps ending sessions of the application accounts before it gives up. */
const PROOF_MS = 3000;
/** How long sessions of accounts the fence leaves open may take to close (zdm's heartbeat just stopped). */
const CLOSING_SESSION_GRACE_MS = 2000;
/** Heartbeat-table row that marks the accounts fence up (the heartbeat is row 1, fence starts 2 and 3). */
const FENCED_ROW = 4;
/** MySQL/MariaDB's "Unknown thread id": the session ended before the kill reached it. */
const UNKNOWN_THREAD = 1094;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const qualified = (table: string) => table.split('.').map(quoteName).join('.');

/** Parses application-accounts: `app@%, report@10.%`, quotes allowed; a user without @host means every host. */
export function parseAccountList(text: string): { user: string; host?: string }[] {
  const items = text.split(/[\s,]+/).filter(Boolean);
  return items.map((item) => {
    const m = /^[`'"]?([^`'"@]*)[`'"]?(?:@[`'"]?([^`'"@]*)[`'"]?)?$/.exec(item);
    if (!m || !/^[A-Za-z0-9_.$-]{1,80}$/.test(m[1]) || (m[2] !== undefined && !/^[A-Za-z0-9_.%:/-]{1,255}$/.test(m[2])))
      throw new InputError(
        'application-accounts',
        `has ${JSON.stringify(item)}, which is not an account: give user@host entries separated by commas, e.g. app@%, report@10.% (no spaces or semicolons inside one). Nothing was changed.`,
      );
    return { user: m[1], host: m[2] };
  });
}

/** What the fence will lock, and why it cannot, read before anything changes. */
export interface AccountPlan {
  /** The application accounts, each with whether it is locked already. */
  accounts: (Account & { locked: boolean })[];
  /** What keeps this fence from working, each with its fix; empty when it can work. */
  problems: string[];
  /** The source-url account. */
  own: Account;
}

function grantee(g: string): string {
  const m = /^'(.*)'@'(.*)'$/.exec(g);
  return m ? accountLabel({ user: m[1], host: m[2] }) : g;
}

/** Global privileges of every account, by label (the source account's SELECT on the mysql schema shows them all). */
async function privilegesByAccount(c: MyConn): Promise<Map<string, Set<string>>> {
  const r = await rows<{ GRANTEE: string; PRIVILEGE_TYPE: string }>(c, 'SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES');
  const m = new Map<string, Set<string>>();
  for (const x of r) {
    const k = grantee(x.GRANTEE);
    if (!m.has(k)) m.set(k, new Set());
    m.get(k)!.add(x.PRIVILEGE_TYPE.toUpperCase());
  }
  return m;
}

/** What the source-url account lacks to lock accounts, see other sessions and end them. */
function ownProblems(s: MySession, flavor: Flavor, own: Account, privs: Set<string>): string[] {
  const out: string[] = [];
  const to = `TO ${accountLabel(own)}`;
  if (!privs.has('CREATE USER'))
    out.push(`the account in source-url (${accountLabel(own)}) lacks CREATE USER, which ALTER USER … ACCOUNT LOCK needs: GRANT CREATE USER ON *.* ${to}`);
  if (!privs.has('PROCESS'))
    out.push(`the account in source-url lacks PROCESS, without which it cannot see the application's sessions: GRANT PROCESS ON *.* ${to}`);
  if (/^\s*KILL\b/i.test(s.inputs.killCommand) && !privs.has('SUPER') && !privs.has(flavor.connectionAdmin))
    out.push(
      `the account in source-url lacks ${flavor.connectionAdmin}, which KILL needs to end other accounts' sessions: GRANT ${flavor.connectionAdmin} ON *.* ${to}, or set kill-command to your service's procedure (e.g. CALL mysql.rds_kill({id}))`,
    );
  return out;
}

/**
 * reverse-replication makes the old source a read-only replica of the new primary right after
 * promotion (CHANGE MASTER, read_only): an admin without SUPER cannot, so it is refused here, before
 * the fence, rather than after the promotion.
 */
async function reverseProblems(s: MySession, flavor: Flavor, src: MyConn, own: Account): Promise<string[]> {
  if (!s.inputs.reverseReplication) return [];
  const privs = await ownPrivileges(src);
  const needs = flavor.name === 'mariadb' ? ['REPLICATION SLAVE ADMIN', 'READ_ONLY ADMIN'] : ['REPLICATION_SLAVE_ADMIN', 'SYSTEM_VARIABLES_ADMIN'];
  const missing = needs.filter((p) => !privs.has(p));
  if (privs.has('SUPER') || missing.length === 0) return [];
  return [
    `reverse-replication makes the old source a read-only replica after promotion, which needs ${needs.join(' and ')} (or SUPER): GRANT ${missing.join(', ')} ON *.* TO ${accountLabel(own)}, or cut over without reverse-replication (a managed service's master user cannot: its own procedures set up replication)`,
  ];
}

/** The accounts application-accounts names (or, empty, every account that is not the server's, zdm's or replication's). */
function selectAccounts(
  s: MySession,
  all: (Account & { locked: boolean })[],
  privs: Map<string, Set<string>>,
  own: Account,
  problems: string[],
): (Account & { locked: boolean })[] {
  const given = s.inputs.applicationAccounts.trim();
  if (!given) {
    return all.filter(
      (a) =>
        a.user !== '' &&
        !SYSTEM_USERS.test(a.user) &&
        a.user !== own.user &&
        a.user !== s.inputs.replicationUser &&
        !privs.get(accountLabel(a))?.has('REPLICATION SLAVE'),
    );
  }
  const chosen: (Account & { locked: boolean })[] = [];
  for (const want of parseAccountList(given)) {
    const found = all.filter((a) => a.user === want.user && (want.host === undefined || a.host === want.host));
    const label = want.host === undefined ? `${want.user} (any host)` : accountLabel({ user: want.user, host: want.host });
    if (want.user === own.user) problems.push(`application-accounts names ${label}, the account in source-url: zdm fences with it, so it cannot lock it`);
    else if (found.length === 0)
      problems.push(`application-accounts names ${label}, which is not an account on ${s.names.source} (see SELECT User, Host FROM mysql.user)`);
    for (const a of found) if (!chosen.some((c) => c.user === a.user && c.host === a.host)) chosen.push(a);
  }
  return chosen;
}

/** Reads the accounts and privileges and says what the fence would lock and what keeps it from working. Changes nothing. */
export async function planAccountFence(s: MySession): Promise<AccountPlan> {
  const flavor = await s.flavor();
  const src = await s.source();
  const [cur] = await rows<{ u: string }>(src, 'SELECT CURRENT_USER() AS u');
  const at = cur.u.lastIndexOf('@');
  const own = { user: cur.u.slice(0, at), host: cur.u.slice(at + 1) };
  const problems = [...ownProblems(s, flavor, own, await ownPrivileges(src)), ...(await reverseProblems(s, flavor, src, own))];
  let all: (Account & { locked: boolean })[];
  try {
    all = (await rows<{ user: string; host: string; locked: unknown }>(src, flavor.accountsQuery)).map((a) => ({
      user: a.user,
      host: a.host,
      locked: Number(a.locked) === 1,
    }));
  } catch (e) {
    problems.push(
      `the account in source-url cannot read the accounts (${describeError(e)}): GRANT SELECT ON mysql.* TO ${accountLabel(own)} (a managed service's master user has it)`,
    );
    return { accounts: [], problems, own };
  }
  const privs = await privilegesByAccount(src);
  const accounts = selectAccounts(s, all, privs, own, problems);
  for (const a of accounts) {
    const bad = CANNOT_FENCE.filter((p) => privs.get(accountLabel(a))?.has(p));
    if (bad.length)
      problems.push(
        `${accountLabel(a)} holds ${bad.join(', ')}: ${bad.includes('REPLICATION SLAVE') ? 'locking it would stop the target replicating' : 'a session of it could undo the fence'}. REVOKE ${bad.join(', ')} ON *.* FROM ${accountLabel(a)}, or leave it out of application-accounts and keep it disconnected during cutover`,
      );
  }
  if (accounts.length === 0 && problems.length === 0)
    problems.push(`there is no application account to lock on ${s.names.source}: name the application's accounts in application-accounts`);
  return { accounts, problems, own };
}

/** The refusal for a plan with problems: nothing was changed. */
function refusal(s: MySession, problems: string[]): UserError {
  return new UserError(`fence: accounts cannot fence ${s.names.source}: ${problems.join('; ')}. Nothing was changed.`);
}

type Session = {
  ID: unknown;
  USER: string;
  HOST: string;
  COMMAND: string;
};
const describeSession = (x: Session) => `id ${x.ID} (${x.USER}@${x.HOST}, ${x.COMMAND})`;

/** Sessions of `users` other than this connection's, killed ones still finishing included. */
async function sessionsOf(c: MyConn, users: string[]): Promise<Session[]> {
  if (users.length === 0) return [];
  return rows<Session>(
    c,
    `SELECT ID, USER, HOST, COMMAND FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER IN (${users.map(() => '?').join(',')}) ORDER BY ID`,
    users,
  );
}

/** Users that may change data: a global privilege beyond reading, or any privilege on a database or table that is not SELECT / SHOW VIEW. */
async function writers(c: MyConn, users: string[]): Promise<Set<string>> {
  if (users.length === 0) return new Set();
  const r = await rows<{ GRANTEE: string; PRIVILEGE_TYPE: string }>(
    c,
    "SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema') UNION ALL SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES",
  );
  const out = new Set<string>();
  for (const x of r) {
    const user = /^'(.*)'@'.*'$/.exec(x.GRANTEE)?.[1] ?? x.GRANTEE;
    if (users.includes(user) && !READ_ONLY_PRIVILEGES.has(x.PRIVILEGE_TYPE.toUpperCase())) out.add(user);
  }
  return out;
}

/**
 * Sessions of accounts the fence leaves open that could write after it (another session of the
 * source-url account, an admin account left out of application-accounts). Sessions that are
 * closing (zdm's heartbeat just stopped) get a short grace.
 */
async function openWriters(c: MyConn, fenced: Set<string>): Promise<string[]> {
  const deadline = Date.now() + CLOSING_SESSION_GRACE_MS;
  for (;;) {
    const sessions = await rows<{ USER: string; n: unknown }>(
      c,
      "SELECT USER, COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler', 'unauthenticated user') AND COMMAND NOT LIKE 'Binlog Dump%' GROUP BY USER",
    );
    const open = sessions.filter((x) => !fenced.has(x.USER));
    const can = await writers(
      c,
      open.map((x) => x.USER),
    );
    const found = open.filter((x) => can.has(x.USER)).map((x) => `${x.USER} (${x.n} session${Number(x.n) === 1 ? '' : 's'})`);
    if (found.length === 0 || Date.now() >= deadline) return found;
    await sleep(100);
  }
}

/** A fence half way up travels with the error, so that the switch lifts it. */
function withFence(e: unknown, f: Fence<AccountFenceUndo>): FenceError<AccountFenceUndo> {
  return e instanceof FenceError ? (e as FenceError<AccountFenceUndo>) : new FenceError(f, e);
}

/**
 * Locks the application accounts, ends their sessions and proves none is left. `resume`: an
 * interrupted cutover locked them already; its accounts count as this fence's (unlocked on abort).
 */
export async function fenceAccounts(s: MySession, resume = false): Promise<Fence<AccountFenceUndo>> {
  const plan = await planAccountFence(s);
  if (plan.problems.length) throw refusal(s, plan.problems);
  const src = await s.source();
  const users = [...new Set(plan.accounts.map((a) => a.user))];
  await refuseOpenWriters(s, src, users);
  if (s.inputs.reverseReplication) await provePromotionUnlocksQuietly(s);
  const f: Fence<AccountFenceUndo> = { mode: 'accounts', startedAt: Date.now(), undo: { accounts: [] } };
  try {
    for (const a of plan.accounts) {
      if (a.locked && !resume) continue;
      await src.query(`ALTER USER ${accountSql(a)} ACCOUNT LOCK`);
      f.undo.accounts.push({ user: a.user, host: a.host });
    }
    markSwitch(f, 'lock', `application accounts locked: ${plan.accounts.map(accountLabel).join(', ')}`);
    await src
      .query(`INSERT INTO ${qualified(s.inputs.heartbeatTable)} (id, ts, seq) VALUES (?, UTC_TIMESTAMP(6), ?) ON DUPLICATE KEY UPDATE seq = VALUES(seq)`, [
        FENCED_ROW,
        f.startedAt,
      ])
      .catch((e: unknown) => s.ctx.log.warn(`could not mark the fence in ${s.inputs.heartbeatTable}: ${describeError(e)}`));
    await endSessions(s, src, users, f);
    await proveStillLocked(s, plan.accounts);
  } catch (e) {
    throw withFence(e, f);
  }
  return f;
}

async function refuseOpenWriters(s: MySession, src: MyConn, fenced: string[]): Promise<void> {
  const open = await openWriters(src, new Set(fenced));
  if (open.length === 0) return;
  if (s.inputs.allowPrivilegedWriters) {
    s.ctx.log.warn(
      `allow-privileged-writers: sessions of accounts the fence leaves open are connected (${open.join(', ')}); their writes after the fence are counted after promotion`,
    );
    return;
  }
  throw new UserError(
    `sessions of accounts that can write and that fence: accounts leaves open are connected to ${s.names.source}: ${open.join(', ')}. Disconnect them, add their accounts to application-accounts, or set allow-privileged-writers: true if you accept that only the audit after promotion finds their writes. Writes were not blocked.`,
  );
}

/** Ends every session of the application accounts, again while any is left, until none is or PROOF_MS is over. */
async function endSessions(s: MySession, src: MyConn, users: string[], f: Fence<AccountFenceUndo>): Promise<void> {
  const deadline = Date.now() + PROOF_MS;
  let killError: string | undefined;
  let ended = 0;
  for (;;) {
    const left = await sessionsOf(src, users);
    if (left.length === 0) {
      markSwitch(f, 'sessions', `no session of an application account is left (${ended} ended)`);
      return;
    }
    if (Date.now() >= deadline)
      throw new SafetyError(
        `${left.length} session(s) of application accounts survived the fence on ${s.names.source}: ${left.map(describeSession).join(', ')}. kill-command (${s.inputs.killCommand}) did not end them within ${PROOF_MS / 1000} s${killError ? ` (last error: ${killError})` : ''}. Check kill-command (KILL CONNECTION {id}, or your service's procedure such as CALL mysql.rds_kill({id})) and that the account in source-url may end other accounts' sessions`,
      );
    for (const x of left) {
      if (x.COMMAND === 'Killed') continue; // still finishing what it was doing: wait for it to go
      const id = String(Number(x.ID));
      await src.query(s.inputs.killCommand.replaceAll('{id}', id)).then(
        () => ended++,
        (e: { errno?: number }) => {
          if (e.errno !== UNKNOWN_THREAD) killError = describeError(e);
        },
      );
    }
    // A killed session leaves within milliseconds unless it is finishing a commit: look again soon.
    await sleep(20);
  }
}

/** An account unlocked again between the lock and now (by a session that could) would let the application back in. */
async function proveStillLocked(s: MySession, accounts: Account[]): Promise<void> {
  const flavor = await s.flavor();
  const now = await rows<{ user: string; host: string; locked: unknown }>(await s.source(), flavor.accountsQuery);
  const open = accounts.filter((a) => !now.some((n) => n.user === a.user && n.host === a.host && Number(n.locked) === 1));
  if (open.length) throw new SafetyError(`${open.map(accountLabel).join(', ')} were unlocked again right after the fence on ${s.names.source}`);
}

/**
 * With reverse replication the old source replicates from the new primary: the unlock at promotion
 * must stay out of the new primary's binlog, or it would unlock the accounts on the old source.
 */
async function provePromotionUnlocksQuietly(s: MySession): Promise<void> {
  const c = await connectMy(s.targetEndpoint.connectUrl, { input: s.targetEndpoint.input });
  try {
    await c.query('SET SESSION sql_log_bin = 0');
  } catch (e) {
    throw new UserError(
      `reverse-replication with fence: accounts: the account in ${s.targetEndpoint.input} cannot SET sql_log_bin = 0 (${describeError(e)}), so the accounts unlocked on ${s.names.target} at promotion would be unlocked on ${s.names.source} too through reverse replication. Give it SUPER (or BINLOG ADMIN on MariaDB, SYSTEM_VARIABLES_ADMIN on MySQL). Nothing was changed.`,
      { cause: e },
    );
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Runs `statements` on a fresh connection to `url`, outside the binlog when the account may. */
async function quietly(s: MySession, which: 'source' | 'target', statements: string[]): Promise<void> {
  const e = which === 'source' ? s.sourceEndpoint : s.targetEndpoint;
  const c = await connectMy(e.connectUrl, { input: e.input, trips: e.trips });
  try {
    await c.query('SET SESSION sql_log_bin = 0').catch(() => undefined);
    for (const stmt of statements) await c.query(stmt);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * At promotion: the locks (and the fence mark) came to the target through replication; the
 * application logs in there from now on. The unlock stays out of the binlog (reverse replication
 * must not unlock the old source); the mark's removal goes in, as a row change both sides must agree
 * on (a row missing on one side only would stop replication at the next fence).
 */
export async function unlockPromoted(s: MySession, f: Fence<AccountFenceUndo>): Promise<void> {
  await quietly(
    s,
    'target',
    f.undo.accounts.map((a) => `ALTER USER ${accountSql(a)} ACCOUNT UNLOCK`),
  );
  await (await s.target()).query(`DELETE FROM ${qualified(s.inputs.heartbeatTable)} WHERE id = ?`, [FENCED_ROW]);
}

/** Gives the source its writes back: unlocks exactly the accounts the fence locked. */
export async function unfenceAccounts(s: MySession, f: Fence<AccountFenceUndo>): Promise<void> {
  await s.forget('source');
  const src = await s.source();
  const failed: string[] = [];
  for (const a of f.undo.accounts) {
    await src.query(`ALTER USER ${accountSql(a)} ACCOUNT UNLOCK`).catch((e: unknown) => failed.push(`${accountLabel(a)} (${describeError(e)})`));
  }
  await src.query(`DELETE FROM ${qualified(s.inputs.heartbeatTable)} WHERE id = ?`, [FENCED_ROW]).catch(() => undefined);
  if (failed.length) throw new UserError(`could not unlock ${failed.join(', ')} on ${s.names.source}: run ALTER USER … ACCOUNT UNLOCK for each as an admin`);
}

/** migrationState: whether an accounts fence is up on the source (its mark is there). */
export async function accountsFenced(s: MySession, c: MyConn): Promise<boolean> {
  const r = await rows(c, `SELECT 1 FROM ${qualified(s.inputs.heartbeatTable)} WHERE id = ?`, [FENCED_ROW]).catch(() => []);
  return r.length > 0;
}
