import { promises as fs } from 'node:fs';
import { UserError } from '../errors.js';
import { parseBytes } from '../inputs.js';
import type { Log } from '../log.js';
import { parseFlags } from '../flags.js';
import { formatReport, rehearse, type RehearsalOptions } from './rehearsal.js';
import { COMMENT_MARKER, rehearsalMarkdown } from '../report/rehearsal-markdown.js';
import { pullRequestFromEvent, upsertComment } from '../github/pr-comment.js';
import { installSignalCleanup } from '../sandbox/cleanup.js';
import { MYSQL_MISSING, mysqlRoot } from '../sandbox/mysql.js';

export const REHEARSE_HELP = `zdm rehearse flags:
  --engine postgres|mariadb|mysql  engine to rehearse [default: postgres]; mysql needs scripts/install-mysql.sh (MySQL from Debian unstable)
  --report FILE                write the report as JSON to FILE
  --size-mb N                  sample data to load into the source [default: 256]
  --writes-per-second N        steady write load during the whole migration [default: 300]
  --fence auto|shutdown|read-only|accounts  cutover fence [default: auto: shutdown for postgres (read-only for a logical migration), read-only for mariadb,
                               accounts with --no-super]
  --no-super                   mariadb, mysql: zdm reaches the source as an admin modelled on a managed service's master user
                               (no SUPER, READ_ONLY ADMIN, FILE or shell): the seed is logical (method: logical) and the
                               fence locks the writers' own account (fence: accounts)
  --target-memory SIZE         RAM the tuning is sized for [default: 1GB, to keep throwaway servers light]
  --no-fsync                   faster, not like production: servers without durability (postgres fsync=off; mariadb
                               sync_binlog=0, innodb_flush_log_at_trx_commit=2); the report says so. Default: production
                               durability (fsync, synchronous_commit, full_page_writes on; sync_binlog=1, flush_log_at_trx_commit=1)
  --ssh                        reach the source only through a real sshd on loopback (tunnels, remote backup)
  --rollback                   cutover with reverse replication, writes on the new primary, then rollback: every acknowledged write must be on the old source
                               (postgres with --fence read-only: the old source is rewound with pg_rewind)
  --pr-comment                 in a pull_request workflow: post the report as one comment, updated on every run (GITHUB_TOKEN)
  --pooler pgbouncer|haproxy   the writing clients connect only through a throwaway pooler in front of the source, which cutover drives:
                               pgbouncer (postgres) is paused, repointed and resumed; haproxy (mariadb, mysql) is repointed and its old sessions shut down
  --method auto|physical|logical  seed-replica's method [default: auto: CLONE for mysql]; logical: mydumper/myloader (mariadb), mysqldump (mysql), publication and
                               subscription (postgres)
  --source-major N, --target-major N  postgres: the majors of the throwaway servers (13-18; default: Debian's 15 for both);
                               different majors migrate one database by logical replication (method auto) with fence read-only
  --verify strict|online|off   verify before cutover: strict compares every row once with the write load paused, online
                               under the writes [default: strict when --source-major and --target-major differ, else off]
  --rtt-ms N                   put the source (server and sshd) behind a WAN test bed: a network namespace joined by a veth
                               pair, this round-trip time added by a delaying relay (root; the bed never routes beyond itself)
  --bandwidth-mbit N           the test bed's link rate, shaped with tc htb on both ends of the veth [default: unshaped]
  --keep                       keep the servers and their directories afterwards`;

/** Posts the report on the pull request the workflow runs for (one comment, updated on every run). */
async function commentOnPullRequest(markdown: string, log: Log): Promise<void> {
  const token = process.env.GITHUB_TOKEN;
  if (!token) throw new UserError('--pr-comment needs the workflow token in the GITHUB_TOKEN environment variable (env: GITHUB_TOKEN: ${{ github.token }})');
  log.secret(token);
  const pr = await pullRequestFromEvent();
  if (!pr) {
    log.warn('--pr-comment: this run is not for a pull request (no pull_request in the event); no comment written');
    return;
  }
  const what = await upsertComment(token, pr, COMMENT_MARKER, markdown);
  log.info(`${what} the rehearsal comment on ${pr.owner}/${pr.repo}#${pr.number}`);
}

/** --fence, checked against --engine and --no-super: without SUPER only the accounts fence can work. */
function rehearsalFence(given: string | undefined, engine: string, noSuper: boolean): RehearsalOptions['fence'] {
  const fence = given ?? (noSuper ? 'accounts' : 'auto');
  if (fence !== 'auto' && fence !== 'shutdown' && fence !== 'read-only' && fence !== 'accounts')
    throw new UserError(`--fence must be auto, shutdown, read-only or accounts (got ${JSON.stringify(fence)})`);
  const my = engine === 'mariadb' || engine === 'mysql';
  if (noSuper && !my) throw new UserError("--no-super needs --engine mariadb or mysql (it models a MySQL/MariaDB managed service's master user)");
  if (noSuper && fence !== 'accounts')
    throw new UserError(`--no-super fences with --fence accounts (the default with it): --fence ${fence} needs SUPER on the source`);
  if (fence === 'accounts' && !my) throw new UserError('--fence accounts needs --engine mariadb or mysql (it is the MySQL/MariaDB fence without SUPER)');
  return fence;
}

export async function rehearseCommand(args: string[], log: Log): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(REHEARSE_HELP + '\n');
    return 0;
  }
  const f = parseFlags(
    args,
    [
      'engine',
      'report',
      'size-mb',
      'writes-per-second',
      'fence',
      'target-memory',
      'pooler',
      'method',
      'source-major',
      'target-major',
      'verify',
      'rtt-ms',
      'bandwidth-mbit',
    ],
    ['keep', 'ssh', 'pr-comment', 'rollback', 'no-fsync', 'no-super'],
  );
  const engine = f.get('engine') ?? 'postgres';
  if (engine !== 'postgres' && engine !== 'mariadb' && engine !== 'mysql')
    throw new UserError(`--engine must be postgres, mariadb or mysql (got ${JSON.stringify(engine)})`);
  if (engine === 'mysql' && !mysqlRoot()) throw new UserError(`--engine mysql: ${MYSQL_MISSING}`);
  const num = (name: string, def: number) => {
    const v = Number(f.get(name) ?? def);
    if (!Number.isFinite(v) || v <= 0) throw new UserError(`--${name} must be a positive number (got ${JSON.stringify(f.get(name))})`);
    return v;
  };
  const nonNegative = (name: string) => {
    const v = Number(f.get(name));
    if (!Number.isFinite(v) || v < 0 || v > 10_000)
      throw new UserError(`--${name} must be a number of milliseconds from 0 to 10000 (got ${JSON.stringify(f.get(name))})`);
    return v;
  };
  const noSuper = f.get('no-super') === 'true';
  const fence = rehearsalFence(f.get('fence'), engine, noSuper);
  const targetMemory = f.get('target-memory') ?? '1GB';
  if (parseBytes(targetMemory) === undefined) throw new UserError(`--target-memory must be a size such as 1GB (got ${JSON.stringify(targetMemory)})`);
  const pooler = f.get('pooler');
  if (pooler !== undefined && pooler !== 'pgbouncer' && pooler !== 'haproxy')
    throw new UserError(`--pooler must be pgbouncer or haproxy (got ${JSON.stringify(pooler)})`);
  if (pooler === 'pgbouncer' && engine !== 'postgres') throw new UserError('--pooler pgbouncer needs --engine postgres (PgBouncer is a PostgreSQL pooler)');
  if (pooler === 'haproxy' && engine === 'postgres')
    throw new UserError('--pooler haproxy needs --engine mariadb or mysql (for PostgreSQL, --pooler pgbouncer holds requests)');
  const method = f.get('method');
  if (method !== undefined && method !== 'auto' && method !== 'physical' && method !== 'logical')
    throw new UserError(`--method must be auto, physical or logical (got ${JSON.stringify(method)})`);
  if (noSuper && method === 'physical')
    throw new UserError("--no-super rehearses a source whose files cannot be read (a managed service's master user): use --method logical or auto");
  const verify = f.get('verify');
  if (verify !== undefined && verify !== 'strict' && verify !== 'online' && verify !== 'off')
    throw new UserError(`--verify must be strict, online or off (got ${JSON.stringify(verify)})`);
  const opts: RehearsalOptions = {
    engine,
    sizeMb: num('size-mb', 256),
    writesPerSecond: num('writes-per-second', 300),
    fence,
    targetMemory,
    keep: f.get('keep') === 'true',
    ssh: f.get('ssh') === 'true',
    rollback: f.get('rollback') === 'true',
    durable: f.get('no-fsync') !== 'true',
    pooler,
    method,
    noSuper,
    sourceMajor: f.get('source-major') === undefined ? undefined : num('source-major', 15),
    targetMajor: f.get('target-major') === undefined ? undefined : num('target-major', 15),
    verify,
    rttMs: f.get('rtt-ms') === undefined ? undefined : nonNegative('rtt-ms'),
    bandwidthMbit: f.get('bandwidth-mbit') === undefined ? undefined : num('bandwidth-mbit', 100),
  };
  if ((opts.rttMs !== undefined || opts.bandwidthMbit !== undefined) && process.getuid?.() !== 0)
    throw new UserError('--rtt-ms and --bandwidth-mbit need root: the WAN test bed creates a network namespace, a veth pair and tc qdiscs');
  if ((opts.rttMs !== undefined || opts.bandwidthMbit !== undefined) && opts.rollback)
    throw new UserError('--rollback is not supported with --rtt-ms/--bandwidth-mbit yet: the old source in the test bed cannot reach the new primary');
  if ((opts.sourceMajor ?? opts.targetMajor) !== undefined && engine !== 'postgres')
    throw new UserError('--source-major and --target-major are for --engine postgres');
  if (opts.rollback && opts.pooler) throw new UserError('--rollback is not supported with --pooler yet: rollback does not drive the pooler');
  if (opts.rollback && opts.noSuper)
    throw new UserError(
      "--rollback is not supported with --no-super: reverse replication makes the old source a replica (CHANGE MASTER, read_only), which a master user without SUPER cannot do; managed services' own procedures for it are not driven by zdm yet",
    );
  if (opts.rollback && opts.ssh) throw new UserError('--rollback is not supported with --ssh yet: reverse replication over SSH is not implemented');
  // A cancelled CI job sends SIGTERM: from here on any signal tears the throwaway servers down.
  installSignalCleanup();
  const report = await rehearse(opts, log);
  process.stdout.write(formatReport(report) + '\n');
  const file = f.get('report');
  if (file) await fs.writeFile(file, JSON.stringify(report, null, 2) + '\n');
  const markdown = rehearsalMarkdown(report);
  if (process.env.GITHUB_STEP_SUMMARY) await fs.appendFile(process.env.GITHUB_STEP_SUMMARY, markdown + '\n');
  if (f.get('pr-comment') === 'true') await commentOnPullRequest(markdown, log);
  return report.ok ? 0 : 1;
}
