/**
 * The one definition of every input and output of every step. The action entry, the `zdm`
 * command line, the generated action.yml files and the README tables all read from here, so
 * they cannot disagree.
 */
import { InputError } from './errors.js';

/** The migration itself, in the order a rehearsal runs it. */
export const MIGRATION_STEPS = ['tune-target', 'seed-replica', 'await-lag-zero', 'cutover'] as const;
export type MigrationStepName = (typeof MIGRATION_STEPS)[number];
/** After cutover with reverse-replication: switch back to the old source, or declare the migration final. */
export const WAY_BACK_STEPS = ['rollback', 'finalize'] as const;
/** Every step an action or the command line can run: the migration and the steps around it. */
/** Around a migration that lasts days: where it stands (read-only), and abandoning it before promotion. */
export const LIFECYCLE_STEPS = ['status', 'abort'] as const;
export const STEPS = ['preflight', ...MIGRATION_STEPS, 'post-cutover', ...WAY_BACK_STEPS, 'revert', 'verify', ...LIFECYCLE_STEPS] as const;
export type StepName = (typeof STEPS)[number];
/** What `zdm rehearse` runs, in order: the checks before, the migration, the checklist after. */
export const REHEARSAL_STEPS = ['preflight', ...MIGRATION_STEPS, 'post-cutover'] as const satisfies readonly StepName[];
export type RehearsalStepName = (typeof REHEARSAL_STEPS)[number];

export type InputKind = 'string' | 'int' | 'number' | 'bool' | 'choice' | 'bytes' | 'json' | 'url';

export interface InputDef {
  name: string;
  description: string;
  /** Steps that read this input. */
  steps: readonly StepName[];
  /** Steps for which the input must be given (no default applies). */
  requiredFor?: readonly StepName[];
  default?: string;
  secret?: boolean;
  kind: InputKind;
  choices?: readonly string[];
  /** The default an action.yml gives instead of `default` (an expression such as `${{ github.token }}`, which only the runner evaluates). */
  actionDefault?: string;
}

export interface OutputDef {
  name: string;
  description: string;
  step: StepName;
}

// The step lists keep their exact members in their types: the derived Inputs type tells from them
// whether an input is given in every step that reads it.
const ALL = STEPS;
/** Steps that reach the source: all but the checklist on the new primary after cutover. */
const CONNECTED = ALL.filter((s): s is Exclude<StepName, 'post-cutover'> => s !== 'post-cutover');
/** Steps that read what seed-replica reads, so that preflight checks exactly what seed-replica will use. */
const SEEDING = ['preflight', 'seed-replica'] as const;
/** Steps that reach the source through SSH when source-ssh-host is set. */
const SSH_STEPS = ['preflight', 'seed-replica', 'await-lag-zero', 'cutover', 'verify', 'finalize', 'status', 'abort'] as const;

/**
 * Every input. A `default` applies to every step (so the value is always there); `default: ''`
 * means "empty when not given" and is not shown as a default. Inputs without a default are
 * optional in the Inputs type, unless every step that reads them requires them.
 */
export const INPUTS = [
  {
    name: 'engine',
    kind: 'choice',
    choices: ['auto', 'postgres', 'mariadb', 'mysql'],
    default: 'auto',
    steps: ALL,
    description: 'Database engine. `auto` takes it from the scheme of `source-url` (postgres:// or mysql://, mariadb://).',
  },
  {
    name: 'state-dir',
    kind: 'string',
    default: '',
    steps: ALL,
    description:
      'Directory on the target host (the runner) that holds the migration record, one JSON file per migration id, mode 700: what every step did and left, so that later steps, other workflow runs, `status` and `abort` need no earlier job output. Empty: `$ZDM_STATE_DIR`, else `/var/lib/zdm`.',
  },
  {
    name: 'migration-id',
    kind: 'string',
    default: '',
    steps: ALL,
    description:
      "The migration's name in the state directory, e.g. `orders-eu`. Empty: the target's host and port (`db-new-5432`): one migration of a target at a time, and a record of another unfinished migration of the same target is refused.",
  },
  {
    name: 'source-url',
    kind: 'url',
    secret: true,
    steps: CONNECTED,
    requiredFor: ['preflight', 'seed-replica', 'await-lag-zero', 'cutover', 'verify', 'rollback', 'finalize', 'status', 'abort'],
    description:
      'Admin connection to the live source, e.g. `postgres://admin:PASSWORD@db-old:5432/postgres`. Pass it from a secret; it is masked and never written to outputs or logs.',
  },
  {
    name: 'target-url',
    kind: 'url',
    secret: true,
    steps: ALL,
    requiredFor: ALL,
    description: 'Admin (superuser) connection to the new target server, e.g. `postgres://postgres:PASSWORD@127.0.0.1:5432/postgres`. Masked.',
  },
  {
    name: 'source-ssl-ca',
    kind: 'string',
    default: '',
    steps: CONNECTED,
    description:
      "CA certificate that signed the source server's TLS certificate: a PEM file path or the PEM text. Same as `sslrootcert` (PostgreSQL) or `ssl-ca` (MySQL/MariaDB) in source-url (TLS: docs/postgres.md, docs/mysql.md).",
  },
  {
    name: 'source-ssl-cert',
    kind: 'string',
    default: '',
    steps: CONNECTED,
    description: 'Client certificate for source-url, when the server asks for one: a PEM file path or the PEM text (`sslcert` / `ssl-cert` in the URL).',
  },
  {
    name: 'source-ssl-key',
    kind: 'string',
    default: '',
    secret: true,
    steps: CONNECTED,
    description: 'Private key of source-ssl-cert: a PEM file path or the PEM text, from a secret (masked; `sslkey` / `ssl-key` in the URL).',
  },
  {
    name: 'target-ssl-ca',
    kind: 'string',
    default: '',
    steps: ALL,
    description:
      "CA certificate that signed the target server's TLS certificate: a PEM file path or the PEM text. Same as `sslrootcert` (PostgreSQL) or `ssl-ca` (MySQL/MariaDB) in target-url (TLS: docs/postgres.md, docs/mysql.md).",
  },
  {
    name: 'target-ssl-cert',
    kind: 'string',
    default: '',
    steps: ALL,
    description: 'Client certificate for target-url, when the server asks for one: a PEM file path or the PEM text (`sslcert` / `ssl-cert` in the URL).',
  },
  {
    name: 'target-ssl-key',
    kind: 'string',
    default: '',
    secret: true,
    steps: ALL,
    description: 'Private key of target-ssl-cert: a PEM file path or the PEM text, from a secret (masked; `sslkey` / `ssl-key` in the URL).',
  },
  {
    name: 'replication-user',
    kind: 'string',
    default: '',
    steps: [...SEEDING, 'cutover'],
    requiredFor: SEEDING,
    description:
      'Role on the source with the REPLICATION attribute (PostgreSQL; a user with REPLICATION SLAVE on MySQL/MariaDB) that the target streams with. With reverse-replication, cutover has the old source stream from the new primary as the same user (the copy brought it there).',
  },
  {
    name: 'replication-password',
    kind: 'string',
    default: '',
    secret: true,
    steps: [...SEEDING, 'cutover'],
    requiredFor: SEEDING,
    description:
      'Password of `replication-user`. Masked; on the target (and, with reverse-replication, on the old source) it is stored only in a passfile readable by the server user, never in the server configuration.',
  },
  {
    name: 'source-replication-address',
    kind: 'string',
    default: '',
    steps: SEEDING,
    description:
      'host:port at which the TARGET SERVER reaches the source for replication, when it differs from the host in `source-url` (e.g. a private address or a tunnel). Empty: the host and port of `source-url`.',
  },
  {
    name: 'target-data-dir',
    kind: 'string',
    steps: SEEDING,
    // Not requiredFor: only a physical seed uses it, and the method is known only once the servers are reached (method: auto).
    description:
      "The target server's data directory, e.g. `/var/lib/postgresql/15/main`. Needed by a physical seed (pg_basebackup; mariadb-backup/xtrabackup), also when `method: auto` chooses it: seed-replica replaces its contents with the copy of the source (the old contents are kept aside until the new replica runs). A logical seed (`method: logical`) loads through SQL and does not need it.",
  },
  {
    name: 'target-start-command',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'rollback'],
    description:
      'Shell command that starts the target server. Empty: `systemctl start postgresql` (PostgreSQL) or `systemctl start mariadb`. rollback runs it only to give the new primary its writes back when a rollback with `fence: shutdown` aborts (there, empty means: zdm says so and you start it).',
  },
  {
    name: 'target-stop-command',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'rollback', 'abort'],
    description:
      'Shell command that stops the target server. Empty: `systemctl stop postgresql` (PostgreSQL) or `systemctl stop mariadb`. It must return only once the server process has exited (as `systemctl stop` and `pg_ctl stop -w` do; a bare `kill` does not): seed-replica replaces the data directory right after it. rollback with `fence: shutdown` (PostgreSQL) fences the new primary with it: it must be a fast shutdown.',
  },
  {
    name: 'job-timeout-minutes',
    kind: 'number',
    default: '360',
    steps: ['preflight'],
    description:
      "The seed-replica job's `timeout-minutes` (GitHub's default is 360). preflight estimates the copy's time from the source's size and a rate it measures, and warns when the copy may not finish within it, with the timeout to set.",
  },
  {
    name: 'abort-target',
    kind: 'choice',
    choices: ['stop', 'standalone'],
    default: 'stop',
    steps: ['abort'],
    description:
      'What abort leaves of the target: `stop` runs target-stop-command (the server stays stopped, its data kept); `standalone` keeps it running, replicating from nothing (PostgreSQL: promoted; MySQL/MariaDB: its replica configuration reset).',
  },
  {
    name: 'max-retained-bytes',
    kind: 'bytes',
    steps: ['status'],
    description:
      'status fails when the source keeps more than this for the target (the WAL its slot holds, or the binlogs the replica still needs), e.g. `50GB`. Empty: no fixed limit; status still fails when that exceeds half of the free disk on the source, where zdm can read it.',
  },
  {
    name: 'min-hours-to-full',
    kind: 'number',
    default: '24',
    steps: ['status'],
    description:
      "status fails when, at the source's current write rate, the WAL or binlog kept for the target would fill the source's free disk in fewer hours than this (where zdm can read that disk: the source on this host or over source-ssh-host).",
  },
  {
    name: 'target-memory',
    kind: 'bytes',
    steps: ['tune-target'],
    description: "RAM of the target host used to size the catch-up settings, e.g. `16GB`. Empty: read from the host's /proc/meminfo.",
  },
  {
    name: 'target-cpus',
    kind: 'int',
    steps: ['tune-target'],
    description: "CPUs of the target host, which size the I/O threads and parallel workers. Empty: the host's own count.",
  },
  {
    name: 'target-disk-type',
    kind: 'choice',
    choices: ['auto', 'nvme', 'ssd', 'rotational'],
    default: 'auto',
    steps: ['tune-target'],
    description:
      "Disk under the target's data directory, which sizes I/O capacity (innodb_io_capacity, effective_io_concurrency, random_page_cost). `auto`: from the block device's name and rotational flag.",
  },
  {
    name: 'tuning-overrides',
    kind: 'string',
    default: '',
    steps: ['tune-target'],
    description:
      'Values that replace the computed ones, one `name=value` per line or a JSON object, e.g. `innodb_io_capacity=4000` or `net.core.rmem_max=33554432`. Only settings zdm manages (engine and kernel) are accepted.',
  },
  {
    name: 'kernel-tuning',
    kind: 'choice',
    choices: ['best-effort', 'required', 'off'],
    default: 'best-effort',
    steps: ['tune-target', 'revert', 'abort'],
    description:
      'Kernel network settings (socket buffers to 16 MiB, tcp_syncookies, tcp_tw_reuse), live under /proc/sys and in a drop-in under /etc/sysctl.d, with `sudo -n` when not root. `best-effort`: where the kernel refuses (a container, no sudo), warn and go on with the engine settings. `required`: fail instead. `off`: leave the kernel alone.',
  },
  {
    name: 'seed-compression',
    kind: 'choice',
    choices: ['auto', 'off'],
    default: 'auto',
    steps: ['seed-replica'],
    description:
      'PostgreSQL physical seed: `auto` compresses the copy on the source (PostgreSQL 15+: zstd, else lz4, else gzip, whichever the server was built with), so a thin link carries less; pg_basebackup unpacks it into the data directory. Before 15 the copy goes uncompressed. `off`: never.',
  },
  {
    name: 'link-bandwidth-mbit',
    kind: 'int',
    steps: ['tune-target'],
    description:
      "The link's rate between source and target in Mbit/s. With it, tune-target measures the RTT to the source and sizes the socket buffers (rmem/wmem max, tcp_rmem/tcp_wmem) from the bandwidth-delay product (x2, within 4 and 128 MiB) instead of a fixed 16 MiB, and says how. Empty: 16 MiB.",
  },
  {
    name: 'sysctl-root',
    kind: 'string',
    default: '/proc/sys',
    steps: ['tune-target'],
    description: 'Where the live kernel settings are. Change it only to test against a copy.',
  },
  {
    name: 'sysctl-dropin',
    kind: 'string',
    default: '/etc/sysctl.d/99-zdm-migration.conf',
    steps: ['tune-target'],
    description: 'The file that keeps the kernel settings across reboots; `revert` removes it (or restores what it held before).',
  },
  {
    name: 'dry-run',
    kind: 'bool',
    default: 'false',
    steps: ['tune-target'],
    description: 'Print the whole plan (kernel and engine: current value, new value and why) and change nothing.',
  },
  {
    name: 'tuning',
    kind: 'json',
    steps: ['seed-replica', 'cutover', 'revert', 'abort'],
    description:
      'The `tuning` output of tune-target: the settings it changed with their original values. Optional: tune-target also writes it into the migration record (state-dir), which the later steps read when this is not given. seed-replica re-applies them to the fresh copy; cutover restores durability and the catch-up settings; revert and abort restore everything.',
  },
  {
    name: 'heartbeat-table',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'verify', 'rollback', 'status', 'abort'],
    description:
      'Table zdm creates on the source and writes a heartbeat row to (about every 500 ms) to measure real replication lag on the target. Empty: `public.zdm_heartbeat` (PostgreSQL) or `zdm.heartbeat` (MySQL/MariaDB).',
  },
  {
    name: 'replication-slot',
    kind: 'string',
    default: 'zdm_replica',
    steps: ['preflight', 'seed-replica', 'await-lag-zero', 'cutover', 'status', 'abort'],
    description: 'Physical replication slot created on the source so that it keeps the WAL the target still needs between jobs. Dropped by cutover.',
  },
  {
    name: 'max-lag-bytes',
    kind: 'bytes',
    default: '1MB',
    steps: ['await-lag-zero', 'cutover', 'rollback'],
    description:
      'Lag bound in bytes of WAL/binlog not yet applied on the target. await-lag-zero waits until lag stays within it; cutover refuses to fence writes while lag is above it.',
  },
  {
    name: 'max-lag-seconds',
    kind: 'number',
    default: '1',
    steps: ['await-lag-zero', 'cutover', 'rollback'],
    description: 'Lag bound in seconds, measured by the heartbeat row (source clock at write vs. now), used together with `max-lag-bytes`.',
  },
  {
    name: 'settle-seconds',
    kind: 'number',
    default: '5',
    steps: ['await-lag-zero'],
    description: 'How long lag must stay within both bounds before await-lag-zero succeeds.',
  },
  {
    name: 'timeout-seconds',
    kind: 'number',
    default: '3600',
    steps: ['await-lag-zero'],
    description: 'How long await-lag-zero waits for the target to catch up before it fails with a diagnosis.',
  },
  {
    name: 'fence',
    kind: 'choice',
    choices: ['auto', 'shutdown', 'read-only', 'accounts'],
    default: 'auto',
    steps: ['preflight', 'cutover', 'rollback'],
    description:
      'How cutover blocks writes on the source (rollback: on the new primary, the same way). `auto`: `shutdown` for a PostgreSQL physical migration, `read-only` for a PostgreSQL logical one (a stopped source cannot confirm its last position to a subscription) and for MySQL/MariaDB. PostgreSQL `shutdown` (safe default): a fast shutdown of the source with `source-stop-command`; nothing can write after it, and the target is proven to hold the shutdown checkpoint. PostgreSQL `read-only`: read-only default, NOLOGIN for every other login role, all client sessions terminated; the source stays up but cannot rejoin as a standby without pg_rewind. MySQL/MariaDB `read-only`: FLUSH TABLES WITH READ LOCK held on a session of its own until promotion, plus read_only (super_read_only on MySQL). MySQL/MariaDB `accounts`, for sources where the admin has no SUPER (managed services): the application accounts are locked (ALTER USER … ACCOUNT LOCK), their sessions ended with kill-command and proven gone; see application-accounts and docs/mysql.md.',
  },
  {
    name: 'source-stop-command',
    kind: 'string',
    default: '',
    steps: ['cutover', 'finalize'],
    description:
      'Shell command that performs a fast shutdown of the source server, for `fence: shutdown`, e.g. `sudo systemctl stop postgresql`. It runs on the source host over SSH when source-ssh-host is set, else on the runner (then e.g. `ssh db-old sudo systemctl stop postgresql`). finalize (PostgreSQL) stops the old source, a standby of the new primary, with it.',
  },
  {
    name: 'source-start-command',
    kind: 'string',
    default: '',
    steps: ['cutover'],
    description:
      'Shell command that starts the source again (where source-stop-command runs). Used to give the source its writes back when a cutover fails after a `shutdown` fence, and, with reverse-replication (PostgreSQL), to start the old source as a standby of the new primary.',
  },
  {
    name: 'apply-timeout-seconds',
    kind: 'number',
    default: '10',
    steps: ['cutover', 'rollback'],
    description:
      "Bound on how long cutover waits, with writes blocked, for the target to apply the source's final position. On timeout the source gets its writes back.",
  },
  {
    name: 'pooler',
    kind: 'choice',
    choices: ['none', 'pgbouncer', 'haproxy'],
    default: 'none',
    steps: ['preflight', 'cutover'],
    description:
      'The connection pooler the application connects through, which cutover drives so that requests wait instead of failing. `pgbouncer` (PostgreSQL): PAUSE with a deadline, the fenced switch, the entry repointed (configuration file + RELOAD), RESUME. `haproxy` (MySQL/MariaDB): once the target is promoted, the backend server is pointed at it through the runtime API and its sessions on the old source shut down (HAProxy cannot hold requests: those fail and reconnect). `none`: the application is repointed by you or by on-promoted-command. See docs/poolers.md.',
  },
  {
    name: 'pooler-admin-urls',
    kind: 'string',
    secret: true,
    default: '',
    steps: ['preflight', 'cutover'],
    description:
      'Admin address of each pooler, one per line (several PgBouncers are paused and resumed together). PgBouncer: `postgres://ADMIN:PASSWORD@pgbouncer-host:6432/pgbouncer`, a login in its admin_users. HAProxy: its runtime API, `tcp://host:port` or `unix:/path/admin.sock` (a stats socket with `level admin`). Masked.',
  },
  {
    name: 'pooler-config-files',
    kind: 'string',
    default: '',
    steps: ['preflight', 'cutover'],
    description:
      "PgBouncer: each pooler's configuration file, one per line, in the order of pooler-admin-urls. zdm edits the entry's host and port in it (a copy of the file as it was is kept beside it as `.zdm-before-cutover`), so it must run where the file is, as a user that may write it.",
  },
  {
    name: 'pooler-database',
    kind: 'string',
    default: '',
    steps: ['preflight', 'cutover'],
    description: 'PgBouncer: the [databases] entry the application connects to, which cutover pauses and repoints.',
  },
  {
    name: 'pooler-backend',
    kind: 'string',
    default: '',
    steps: ['preflight', 'cutover'],
    description: 'HAProxy: the backend the application reaches the database through.',
  },
  {
    name: 'pooler-server',
    kind: 'string',
    default: '',
    steps: ['preflight', 'cutover'],
    description:
      'HAProxy: the server in `pooler-backend` that is the primary. Once the target is promoted cutover points it at the new primary through the runtime API and shuts down its sessions to the old source; HAProxy cannot hold requests, so those fail and the clients reconnect.',
  },
  {
    name: 'pooler-target-address',
    kind: 'string',
    default: '',
    steps: ['cutover'],
    description:
      'host:port at which the poolers reach the new primary, when it differs from `endpoint` (e.g. a private address). Empty: `endpoint`, or the host and port of `target-url`.',
  },
  {
    name: 'pause-timeout-seconds',
    kind: 'number',
    default: '5',
    steps: ['cutover'],
    description:
      'How long cutover waits for PAUSE to complete on every pooler (the transactions in flight to end). On timeout every pooler is resumed and cutover aborts before the fence: the source keeps taking writes.',
  },
  {
    name: 'long-transaction-seconds',
    kind: 'number',
    default: '5',
    steps: ['cutover'],
    description:
      'A transaction open through the pooler for this long or longer when cutover is about to PAUSE counts as long (it would hold PAUSE). The default, 5 s, is the default pause-timeout-seconds: a younger transaction is usually a slow commit on a busy server, not one that would make PAUSE time out.',
  },
  {
    name: 'long-transaction-policy',
    kind: 'choice',
    choices: ['abort', 'wait'],
    default: 'abort',
    steps: ['cutover'],
    description:
      "`abort`: long transactions are listed and cutover stops before pausing anything. `wait`: they are listed and PAUSE waits for them, up to pause-timeout-seconds (the application's requests wait as long).",
  },
  {
    name: 'method',
    kind: 'choice',
    choices: ['auto', 'physical', 'logical'],
    default: 'auto',
    steps: SEEDING,
    description:
      'How seed-replica copies the source. `physical`: a hot physical copy (PostgreSQL: pg_basebackup; MySQL/MariaDB: streamed mariadb-backup / XtraBackup), the way to seed anything but a small database; needs the same major version on both sides. `logical`: the rows through SQL, for sources whose files cannot be read or across versions (MySQL/MariaDB: mydumper/myloader in parallel from one consistent snapshot, accounts and grants copied; without mydumper MariaDB falls back to `mariadb-dump --single-transaction`). `auto`: MySQL/MariaDB take `physical` when the backup tool on the source host can read the data directory of the source, the target host has the backup tools and both servers run the same release series, else `logical`; the choice and its reason are printed and given as the `method` output.',
  },
  {
    name: 'logical-max-size',
    kind: 'bytes',
    default: '5GB',
    steps: SEEDING,
    description:
      'Largest source that `method: logical` accepts. A dump rebuilds every table and index through SQL on the target: about 4x slower than a physical copy here, and hours for large databases, while the source keeps binlogs for the replica to catch up with. MySQL/MariaDB with mydumper: above it seed-replica only warns, with the estimated copy time; the single-threaded `mariadb-dump` fallback is refused above it.',
  },
  {
    name: 'backup-options',
    kind: 'string',
    default: '',
    steps: ['seed-replica'],
    description:
      "MySQL/MariaDB: extra options for mariadb-backup / xtrabackup on the source, separated by spaces, e.g. `--throttle=40` to spare a busy source's disks.",
  },
  {
    name: 'reseed',
    kind: 'bool',
    default: 'false',
    steps: ['seed-replica'],
    description:
      'Copy the source again over a target that is already a working replica, or that holds databases (a primary, perhaps promoted by an earlier cutover). Without it seed-replica refuses both, so that a re-run never throws away a good replica or a new primary by accident.',
  },
  {
    name: 'allow-privileged-writers',
    kind: 'bool',
    default: 'false',
    steps: ['cutover', 'rollback'],
    description:
      'MySQL/MariaDB: proceed even when sessions of accounts that can write past read_only (SUPER, READ_ONLY ADMIN) are connected to the source. The read lock held during cutover stops them; read_only afterwards does not. With `fence: accounts`: proceed even when sessions of accounts the fence leaves unlocked, and that can write, are connected; writes past the fence are counted after promotion.',
  },
  {
    name: 'source-data-dir',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'cutover', 'finalize'],
    description:
      "The source server's data directory. MySQL/MariaDB: read by the physical backup. PostgreSQL with reverse-replication: where cutover writes standby.signal and the standby settings of the old source (finalize removes them). Empty: the source's own `datadir` / `data_directory`.",
  },
  {
    name: 'target-config-file',
    kind: 'string',
    default: '',
    steps: ['preflight', 'tune-target', 'seed-replica', 'cutover', 'revert', 'abort'],
    description:
      "MySQL/MariaDB: the option file tune-target writes the catch-up profile to, so that it survives restarts; cutover rewrites the relaxed-durability lines there with their durable values where the server's own configuration would not give them (so that a restart keeps the new primary durable), and revert removes the other lines of zdm (the file goes when nothing is left). It must be a file the server reads: preflight and seed-replica check it against the running server's command line (`--defaults-file`, `--defaults-extra-file`, `!include`, `!includedir` of `.cnf` files). Empty: `/etc/mysql/mariadb.conf.d/99-zdm-migration.cnf` (MariaDB) or `/etc/mysql/mysql.conf.d/99-zdm-migration.cnf` (MySQL).",
  },
  {
    name: 'source-ssh-host',
    kind: 'string',
    default: '',
    steps: SSH_STEPS,
    description:
      "Reach the source through SSH: `host` or `host:port` of its SSH server. zdm's own SQL then goes through a tunnel (source-url names the database as seen from that host, e.g. 127.0.0.1:5432), the MySQL/MariaDB backup runs there, and seed-replica starts a supervised replication tunnel on the target host. Empty: connect directly.",
  },
  {
    name: 'source-ssh-user',
    kind: 'string',
    default: 'root',
    steps: SSH_STEPS,
    description: 'SSH user on the source host (root, or a user with passwordless sudo for the backup and the server commands).',
  },
  {
    name: 'source-ssh-key',
    kind: 'string',
    secret: true,
    default: '',
    steps: SSH_STEPS,
    description: 'OpenSSH private key text for source-ssh-user. Masked; the replication tunnel keeps a copy readable only by root in tunnel-dir until cutover.',
  },
  {
    name: 'source-ssh-passphrase',
    kind: 'string',
    secret: true,
    default: '',
    steps: SSH_STEPS,
    description: 'Passphrase of source-ssh-key, when it is encrypted. Masked.',
  },
  {
    name: 'source-ssh-host-key',
    kind: 'string',
    default: '',
    steps: SSH_STEPS,
    description:
      "The source SSH server's host key: its SHA256 fingerprint (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) or a known_hosts line. Always verified; required unless source-ssh-insecure-accept-any-host-key is true.",
  },
  {
    name: 'source-ssh-insecure-accept-any-host-key',
    kind: 'bool',
    default: 'false',
    steps: SSH_STEPS,
    description:
      'Connect without verifying the host key (logged loudly as a warning). Only for throwaway test hosts: anyone in the middle could read and change the database traffic.',
  },
  {
    name: 'replication-tunnel-port',
    kind: 'int',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize', 'status', 'abort'],
    description:
      'Local port on the target host where the supervised replication tunnel listens (the target server replicates from 127.0.0.1:<port>). Empty: 15432 (PostgreSQL) or 13306 (MySQL/MariaDB).',
  },
  {
    name: 'tunnel-dir',
    kind: 'string',
    default: '/var/lib/zdm/tunnels',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize', 'status', 'abort'],
    description: "Directory (mode 700) for the replication tunnel's pid file, status, log and key copy.",
  },
  {
    name: 'endpoint',
    kind: 'string',
    default: '',
    steps: ['cutover', 'rollback'],
    description:
      'The address the application should use after cutover (output as `endpoint`). Empty: host:port of `target-url`. For rollback: the address of the old source, empty: host:port of `source-url`.',
  },
  {
    name: 'on-promoted-command',
    kind: 'string',
    default: '',
    steps: ['cutover', 'rollback'],
    description:
      'Optional shell command run right after the target is promoted, to point the application at it (update a proxy, a DNS record, a service discovery key). `ZDM_ENDPOINT` is set in its environment. rollback runs it after promoting the old source again.',
  },
  {
    name: 'reverse-replication',
    kind: 'bool',
    default: 'false',
    steps: ['cutover'],
    description:
      'Keep a way back: right after promotion, make the old source a replica of the new primary, so that `rollback` can switch back without losing a write until `finalize`. PostgreSQL: needs source-start-command and replication-user/password; after `fence: shutdown` the old source rejoins as a standby as it is, after `fence: read-only` it is first stopped (source-stop-command) and rewound with pg_rewind (needs wal_log_hints or data checksums, and a superuser in target-url). After a logical migration (PostgreSQL): logical replication from the new primary, from the switch point; needs fence: read-only, wal_level = logical on the target and superusers in source-url and target-url. MySQL/MariaDB: needs GTIDs and the binlog on the target; the old source replicates from the exact GTID position of the fence. Checked before writes are blocked; not supported yet with source-ssh-host.',
  },
  {
    name: 'target-replication-address',
    kind: 'string',
    default: '',
    steps: ['cutover'],
    description:
      'host:port at which the OLD SOURCE SERVER reaches the new primary for reverse replication, when it differs from the host in `target-url`. Empty: the host and port of `target-url`.',
  },
  {
    name: 'reverse-replication-slot',
    kind: 'string',
    default: 'zdm_reverse',
    steps: ['cutover', 'rollback', 'finalize'],
    description:
      'PostgreSQL: physical replication slot created on the new primary for the old source, so that it keeps the WAL a rollback needs between jobs. After a logical migration: the name of the publication, logical slot (made inside the fence) and subscription of the reverse stream. Dropped by finalize.',
  },
  {
    name: 'app-pool-size',
    kind: 'int',
    steps: ['preflight', 'post-cutover'],
    description:
      "Connections the application opens to the database at most, all its instances' pools together. preflight and post-cutover fail when the target's max_connections (less the connections reserved for superusers) is below it. Empty: not checked.",
  },
  {
    name: 'app-db-hostname',
    kind: 'string',
    default: '',
    steps: ['preflight'],
    description:
      'The DNS name the application connects to, when cutover moves it by a DNS change. preflight reads its TTL: above max-dns-ttl-seconds, clients keep the old address that long after cutover, so lower the TTL a day ahead. Empty: not checked.',
  },
  {
    name: 'max-dns-ttl-seconds',
    kind: 'number',
    default: '60',
    steps: ['preflight'],
    description: 'Largest TTL of app-db-hostname that preflight accepts without a warning.',
  },
  {
    name: 'dns-servers',
    kind: 'string',
    default: '',
    steps: ['preflight'],
    description:
      "Resolvers to ask for app-db-hostname, comma-separated `ip` or `ip:port`, e.g. the zone's authoritative server. Empty: the runner's resolvers.",
  },
  {
    name: 'max-clock-skew-seconds',
    kind: 'number',
    default: '5',
    steps: ['preflight'],
    description:
      "Largest clock difference between the source, the target and the runner that preflight accepts (above 1 s it warns). Rows written just before cutover carry the source's clock and those just after the target's: a target running behind makes time go backwards for the application.",
  },
  {
    name: 'max-latency-ms',
    kind: 'number',
    default: '50',
    steps: ['preflight', 'post-cutover'],
    description: 'preflight and post-cutover warn when the 99th percentile of 100 TCP connects from the runner to a server is above this.',
  },
  {
    name: 'allow-relaxed-durability',
    kind: 'bool',
    default: 'false',
    steps: ['post-cutover'],
    description:
      'Only warn, instead of failing, when the new primary can lose acknowledged writes in a crash (fsync or synchronous_commit off; innodb_flush_log_at_trx_commit or sync_binlog not 1). For throwaway rehearsal servers only.',
  },
  {
    name: 'backup-check-command',
    kind: 'string',
    default: '',
    steps: ['post-cutover'],
    description:
      'Shell command, run on the runner, that exits 0 when backups of the new primary are in place (e.g. `pgbackrest --stanza=main check`, or a query of your backup service). `ZDM_ENDPOINT` is set in its environment.',
  },
  {
    name: 'backup-dir',
    kind: 'string',
    default: '',
    steps: ['post-cutover'],
    description:
      'Directory on the target host where backups of the new primary land: post-cutover fails unless it holds a non-empty file newer than backup-max-age-hours.',
  },
  {
    name: 'backup-max-age-hours',
    kind: 'number',
    default: '26',
    steps: ['post-cutover'],
    description: 'How recent the newest file in backup-dir must be (a daily backup, with slack).',
  },
  {
    name: 'expect-replicas',
    kind: 'int',
    steps: ['post-cutover'],
    description:
      'How many replicas must be streaming from the new primary (PostgreSQL: pg_stat_replication; MySQL/MariaDB: binlog dump threads), when the new primary must feed replicas of its own. Empty: not checked.',
  },
  {
    name: 'verify-mode',
    kind: 'choice',
    choices: ['online', 'strict'],
    default: 'online',
    steps: ['verify'],
    description:
      "`online`: while replication runs and the source takes writes; a chunk that differs is compared again once the target has applied the source's position taken for it, up to `rechecks` times, and only a persistent difference is reported. `strict`: when writes are blocked (at cutover) or stopped; the target must first apply the source's current position, then every chunk is compared once, within `time-budget-seconds`.",
  },
  {
    name: 'verify-tables',
    kind: 'string',
    default: '',
    steps: ['verify'],
    description:
      'Tables to compare: glob patterns over full names (`db.schema.table` for PostgreSQL, `db.table` for MySQL/MariaDB) separated by commas or spaces; `!pattern` leaves tables out, e.g. `appdb.public.*, !appdb.public.audit_*`. Empty: every user table of every database, without system schemas and the heartbeat table.',
  },
  {
    name: 'chunk-rows',
    kind: 'int',
    default: '10000',
    steps: ['verify'],
    description: 'Rows per chunk: verify compares one primary-key range of about this many rows at a time, each a short query on each server.',
  },
  {
    name: 'rechecks',
    kind: 'int',
    default: '5',
    steps: ['verify'],
    description:
      'Online mode: how many times a chunk that differs is compared again (after the target applied the source position) before it counts as a mismatch.',
  },
  {
    name: 'verify-max-lag-bytes',
    kind: 'bytes',
    default: '64MB',
    steps: ['verify'],
    description:
      "Online mode on a replica: pause between chunks while the target is more than this far behind the source (WAL/binlog bytes not applied), so that verify's reads do not make a catching-up replica fall further behind. 0: never pause.",
  },
  {
    name: 'time-budget-seconds',
    kind: 'number',
    default: '0',
    steps: ['verify'],
    description:
      'Stop comparing after this long and report what was and was not compared; the step then fails as not verified. 0: no limit. Use it with `verify-mode: strict` inside a cutover window.',
  },
  {
    name: 'replica-identity-full',
    kind: 'bool',
    default: 'false',
    steps: SEEDING,
    description:
      'PostgreSQL, `method: logical`: tables without a primary key or replica identity get `REPLICA IDENTITY FULL` on the source at seed (each one named in the log), instead of being refused. FULL logs the whole old row of every UPDATE and DELETE, and the target finds each row by scanning the table: adding a primary key is better where possible.',
  },
  {
    name: 'application-accounts',
    kind: 'string',
    default: '',
    steps: ['preflight', 'cutover', 'rollback'],
    description:
      "MySQL/MariaDB with `fence: accounts`: the accounts the application writes with, which the fence locks, as user@host separated by commas or spaces, e.g. `app@%, report@10.%` (a user without @host means every host of that user). Empty: every account on the source except the account in source-url (every host of its user), accounts holding REPLICATION SLAVE (the replication user), roles, anonymous and system accounts (root, mariadb.sys, mysql.*, and managed services' own: rdsadmin, azure_superuser, cloudsql*). An application account must not hold SUPER, CREATE USER, CONNECTION ADMIN, READ_ONLY ADMIN, SYSTEM_USER or REPLICATION SLAVE: preflight and cutover refuse it, naming it.",
  },
  {
    name: 'kill-command',
    kind: 'string',
    default: 'KILL CONNECTION {id}',
    steps: ['preflight', 'cutover', 'rollback'],
    description:
      'MySQL/MariaDB with `fence: accounts`: the SQL statement that ends one session of an application account, run as the source-url account with `{id}` replaced by the session id. Managed services that give no CONNECTION ADMIN provide a procedure instead, e.g. `CALL mysql.rds_kill({id})` (Amazon RDS / Aurora).',
  },
  {
    name: 'tables',
    kind: 'string',
    default: '',
    steps: [...SEEDING, 'cutover', 'verify'],
    description:
      "PostgreSQL, `method: logical`: the tables the migration carries, as glob patterns over `schema.table` separated by commas or spaces; `!pattern` leaves tables out, e.g. `public.*, !public.audit_log`. The publication lists only these (FOR TABLE), the schema dump leaves the others out (pg_dump -T, so they do not exist on the target), the logical checks and the DDL guard look only at them, and verify compares only them. Give the same value to preflight, seed-replica, cutover and verify. A partitioned table is chosen by its root name. zdm's heartbeat table is always carried. Empty: every table.",
  },
  {
    name: 'refresh-materialized-views',
    kind: 'bool',
    default: 'false',
    steps: ['cutover'],
    description:
      'PostgreSQL, `method: logical`: right after the switch, REFRESH MATERIALIZED VIEW each materialized view on the new primary (each one named in the log). The schema copy creates them empty and logical replication carries none of their rows, so until refreshed they cannot be read. Right after the switch rather than inside the fence: a refresh rebuilds the whole view, which inside the fence would block every write meanwhile; after it, only readers of that view wait. false: they are named in a warning, to refresh by hand.',
  },
  {
    name: 'require-approval',
    kind: 'bool',
    default: 'true',
    steps: ['cutover', 'rollback'],
    description:
      "In GitHub Actions, cutover and rollback refuse before they change anything unless this run was approved by a reviewer for `approval-environment` and that environment requires reviewers (checked through the REST API with `github-token`). false: an explicit choice to switch without a proven approval; the migration record and the audit record keep it. On the command line a cutover or rollback asks to type the database's name instead (or `--yes`).",
  },
  {
    name: 'approval-environment',
    kind: 'string',
    default: 'production',
    steps: ['cutover', 'rollback'],
    description:
      "The environment whose reviewers must have approved this run (the cutover job's `environment:`), with required reviewers in its protection rules.",
  },
  {
    name: 'github-token',
    kind: 'string',
    default: '',
    actionDefault: '${{ github.token }}',
    secret: true,
    steps: ['cutover', 'rollback'],
    description: "Token for the approval check (needs `actions: read`). The actions pass the job's own token; empty on the command line. Masked.",
  },
  {
    name: 'data-location',
    kind: 'string',
    default: '',
    steps: ALL,
    description:
      'Where the target keeps the data, as you declare it for the audit record, e.g. `NO / Oslo, provider X`; kept beside what zdm observed of the target host (its name and addresses).',
  },
] as const satisfies readonly InputDef[];

const AUDIT_RECORD_DESCRIPTION =
  'Path of the audit record on the target (`<migration-id>.audit.json` in state-dir): who approved, the phases, both servers, positions, the write-blocked window, verify, settings (no secrets). See docs/audit.md.';
/** The steps that write the audit record (those that change something, and verify) and offer its path. */
export const AUDIT_STEPS = [
  'tune-target',
  'seed-replica',
  'cutover',
  'rollback',
  'finalize',
  'revert',
  'verify',
  'abort',
] as const satisfies readonly StepName[];

export const OUTPUTS = [
  {
    step: 'tune-target',
    name: 'tuning',
    description:
      'JSON of the settings changed on the target (engine and kernel), each with its original value and why. Pass it to seed-replica, cutover and revert.',
  },
  { step: 'tune-target', name: 'engine', description: 'The engine detected (postgres, mariadb or mysql).' },
  { step: 'revert', name: 'reverted', description: 'Names of the engine and kernel settings restored to their original values, comma-separated.' },
  {
    step: 'seed-replica',
    name: 'seed-position',
    description: 'Position the copy was taken at and replication started from (PostgreSQL: the LSN at the end of the backup).',
  },
  { step: 'seed-replica', name: 'replication-slot', description: 'The replication slot the target streams from.' },
  { step: 'seed-replica', name: 'heartbeat-table', description: 'The heartbeat table created on the source.' },
  { step: 'seed-replica', name: 'seed-seconds', description: 'How long the copy took.' },
  { step: 'seed-replica', name: 'source-version', description: 'Server version of the source.' },
  { step: 'await-lag-zero', name: 'lag-bytes', description: 'Replication lag in bytes when the step ended.' },
  { step: 'await-lag-zero', name: 'lag-seconds', description: 'Heartbeat lag in seconds when the step ended.' },
  { step: 'await-lag-zero', name: 'waited-seconds', description: 'How long the step waited for the target to catch up.' },
  { step: 'cutover', name: 'endpoint', description: 'The address of the new primary for the application (no credentials).' },
  {
    step: 'cutover',
    name: 'write-blocked-ms',
    description: 'Measured write-blocked window: from the moment the fence began to the moment the target accepted writes.',
  },
  {
    step: 'cutover',
    name: 'source-round-trips',
    description:
      'Queries, new connections and SSH commands zdm sent the source between the fence and the promotion: each costs at least one network round trip of the window.',
  },
  { step: 'cutover', name: 'final-position', description: 'The last position of the source, proven applied on the target before promotion.' },
  {
    step: 'cutover',
    name: 'pooler-held-ms',
    description: "With a pooler: how long the application's requests were held, from PAUSE to RESUME. Empty without a pooler.",
  },
  {
    step: 'cutover',
    name: 'fence',
    description: 'The fence used (shutdown, read-only or accounts), or `already-done` when a re-run found the target already promoted.',
  },
  {
    step: 'cutover',
    name: 'writes-after-fence',
    description:
      'Transactions the old source took after its fence, found after promotion (they are not on the new primary; 0 when none); empty when it cannot be told (the shutdown fence stopped the source).',
  },
  { step: 'preflight', name: 'checks', description: 'JSON list of the checks made, each `{check, status, detail}` with status ok, warn or fail (no secrets).' },
  {
    step: 'preflight',
    name: 'latency-p50-ms',
    description: 'Median TCP connect time from the runner to the source and target (the slower of the two), in ms.',
  },
  {
    step: 'preflight',
    name: 'latency-p99-ms',
    description: '99th percentile TCP connect time from the runner to the source and target (the slower of the two), in ms.',
  },
  { step: 'preflight', name: 'warnings', description: 'How many checks warned (they do not block).' },
  { step: 'post-cutover', name: 'checks', description: 'JSON list of the checklist on the new primary, each `{check, status, detail}` (no secrets).' },
  { step: 'post-cutover', name: 'latency-p50-ms', description: 'Median TCP connect time from the runner to the new primary, in ms.' },
  { step: 'post-cutover', name: 'latency-p99-ms', description: '99th percentile TCP connect time from the runner to the new primary, in ms.' },
  { step: 'verify', name: 'ok', description: 'true when every selected table was compared completely and nothing differed; false otherwise.' },
  {
    step: 'verify',
    name: 'mismatches',
    description: 'Number of differing key ranges, plus tables missing on one side or with different columns.',
  },
  { step: 'verify', name: 'rows-compared', description: 'Rows compared, over all tables.' },
  {
    step: 'verify',
    name: 'report',
    description:
      'JSON report: per table the result, rows and chunks compared, rechecks, and every differing key range (first and last key on each side); what was not compared. Key values are data: no credentials, bounded to 200 kB.',
  },
  {
    step: 'cutover',
    name: 'reverse-replication',
    description:
      '`running` when the old source replicates from the new primary (rollback is possible), `off` when not asked for, `failed` when setting it up failed (see the summary).',
  },
  {
    step: 'cutover',
    name: 'reverse-position',
    description:
      'Where the old source continues from on the new primary (PostgreSQL: the LSN of the switch; MySQL/MariaDB: the GTID position). Empty without reverse replication.',
  },
  {
    step: 'cutover',
    name: 'reverse-from',
    description: 'host:port of the new primary as the old source replicates from it (no credentials). Empty without reverse replication.',
  },
  { step: 'rollback', name: 'endpoint', description: 'The address of the old source, the primary again (no credentials).' },
  {
    step: 'rollback',
    name: 'write-blocked-ms',
    description: 'Measured write-blocked window of the rollback: from the fence on the new primary to the old source accepting writes.',
  },
  { step: 'rollback', name: 'final-position', description: 'The last position of the new primary, proven applied on the old source before its promotion.' },
  { step: 'rollback', name: 'fence', description: 'The fence used on the new primary (shutdown, read-only or accounts).' },
  {
    step: 'rollback',
    name: 'writes-after-fence',
    description: 'Transactions the new primary took after its fence, found after the promotion (not on the old source); empty when it cannot be told.',
  },
  { step: 'finalize', name: 'reverse-replication', description: '`removed` once the old source no longer replicates from the new primary.' },
  {
    step: 'seed-replica',
    name: 'method',
    description: 'How the copy was made: `physical` or `logical` (with `method: auto`, the one chosen; the reason is in the log and the summary).',
  },
  {
    step: 'status',
    name: 'phase',
    description: 'Where the migration stands, from its record (tuned, seeding, seeded, caught-up, fenced, promoted, ...), or `none`.',
  },
  { step: 'status', name: 'replicating', description: '`true` when the target is receiving and applying changes from the source right now.' },
  { step: 'status', name: 'lag-bytes', description: 'Replication lag in bytes (empty when it cannot be measured).' },
  { step: 'status', name: 'heartbeat-age-seconds', description: 'Age of the newest heartbeat row on the target, in seconds (empty when there is none).' },
  {
    step: 'status',
    name: 'retained-bytes',
    description: 'What the source keeps for the target: WAL held by its slot, or binlogs the replica still needs (empty when unknown).',
  },
  { step: 'status', name: 'source-free-bytes', description: "Free disk under the source's WAL or binlog directory (empty where zdm cannot read it)." },
  {
    step: 'status',
    name: 'hours-to-full',
    description: "At the source's current write rate, hours until the retained WAL/binlog fills the source's free disk (empty when unknown or not growing).",
  },
  { step: 'status', name: 'next-step', description: 'The step to run next.' },
  { step: 'status', name: 'report', description: 'JSON of every fact status read (no secrets).' },
  { step: 'abort', name: 'removed', description: 'What abort removed or restored, comma-separated (empty when there was nothing left: a second abort).' },
  { step: 'abort', name: 'record', description: 'Path of the migration record on the target.' },
  {
    step: 'seed-replica',
    name: 'seed-tool',
    description:
      'What made the copy where the engine tells: `clone` (MySQL CLONE plugin), `backup` (mariadb-backup, XtraBackup), `mydumper`, `mysqldump`, `mariadb-dump`; empty otherwise.',
  },
  { step: 'tune-target', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'seed-replica', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'cutover', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'rollback', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'finalize', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'revert', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'verify', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
  { step: 'abort', name: 'audit-record', description: AUDIT_RECORD_DESCRIPTION },
] as const satisfies readonly OutputDef[];

/** The schema seen through the general shape, for code that loops over every input. */
export const INPUT_DEFS: readonly InputDef[] = INPUTS;
export const OUTPUT_DEFS: readonly OutputDef[] = OUTPUTS;

export function inputsFor(step: StepName): InputDef[] {
  return INPUT_DEFS.filter((i) => i.steps.includes(step));
}

export function outputsFor(step: StepName): OutputDef[] {
  return OUTPUT_DEFS.filter((o) => o.step === step);
}

export function isStep(s: string): s is StepName {
  return (STEPS as readonly string[]).includes(s);
}

/** Raw values by input name; undefined or '' means "not given". */
export type RawInputs = (name: string) => string | undefined;

type InputSchema = (typeof INPUTS)[number];
/** `source-ssh-host` -> `sourceSshHost`. */
type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;
interface KindValues {
  string: string;
  url: URL;
  int: number;
  number: number;
  bytes: number;
  bool: boolean;
  json: unknown;
}
/** The value an input parses to: the union of its choices, or its kind's type. */
type ValueOf<D> = D extends { kind: 'choice'; choices: readonly (infer C)[] } ? C : D extends { kind: keyof KindValues } ? KindValues[D['kind']] : never;
/** Given in every step that reads it: it has a default, or every step that reads it requires it. */
type AlwaysGiven<D> = D extends { default: string }
  ? true
  : D extends { steps: readonly (infer S)[]; requiredFor: readonly (infer R)[] }
    ? [S] extends [R]
      ? true
      : false
    : false;
/** The inputs as parsed from the schema, before anything that depends on the engine is resolved. */
type ParsedInputs = { [D in InputSchema as AlwaysGiven<D> extends true ? CamelCase<D['name']> : never]: ValueOf<D> } & {
  [D in InputSchema as AlwaysGiven<D> extends true ? never : CamelCase<D['name']>]?: ValueOf<D>;
};

export type EngineKind = 'postgres' | 'mariadb' | 'mysql';
/** What readInputs settles beyond parsing: the step, and what the engine decides. */
interface Resolved {
  step: StepName;
  /** `auto` is resolved from the URL scheme. */
  engine: EngineKind;
  /**
   * `auto` is resolved by the engine: `read-only` for MySQL/MariaDB; `shutdown` for PostgreSQL,
   * which a logical migration settles as `read-only` once it finds its subscription (fenceGiven false).
   */
  fence: 'shutdown' | 'read-only' | 'accounts';
  /** The user chose the fence (not `auto`): a logical migration then refuses `shutdown` instead of settling it. */
  fenceGiven: boolean;
  /** Empty is resolved to the engine's table. */
  heartbeatTable: string;
  /** Not given is resolved to the engine's port. */
  replicationTunnelPort: number;
}
type Flat<T> = { [K in keyof T]: T[K] };
/** Every input of every step, typed from INPUTS: what the steps and the engines read. */
export type Inputs = Flat<Omit<ParsedInputs, keyof Resolved> & Resolved>;
/** What the poolers read (preflight's pooler rows, cutover's pooler switch): the pooler inputs and the engine. */
export type PoolerOptions = Pick<Inputs, 'engine' | Extract<keyof Inputs, `pooler${string}`>>;

/** The name of an output that step S declares. */
export type OutputName<S extends StepName> = Extract<(typeof OUTPUTS)[number], { step: S }>['name'];
/** The outputs step S declares, each set (empty when it has no value) and nothing else. */
/** `audit-record` is set by runStep once the step has ended (src/state/audit.ts), not by the step. */
export type StepOutputs<S extends StepName> = Flat<
  { [N in Exclude<OutputName<S>, 'audit-record'>]: string } & ('audit-record' extends OutputName<S> ? { 'audit-record'?: string } : unknown)
>;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Parses sizes such as `1MB`, `512 kB`, `16GiB` or plain bytes. Units are powers of 1024. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

function parseOne(def: InputDef, raw: string): unknown {
  const bad = (what: string) => new InputError(def.name, `${what} (got ${def.secret ? 'a masked value' : JSON.stringify(raw)})`);
  switch (def.kind) {
    case 'string':
      return raw;
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0 || (def.kind === 'int' && !Number.isInteger(n))) throw bad('must be a non-negative number');
      return n;
    }
    case 'bool':
      if (/^(true|yes|1|on)$/i.test(raw)) return true;
      if (/^(false|no|0|off)$/i.test(raw)) return false;
      throw bad('must be true or false');
    case 'choice':
      if (!def.choices!.includes(raw)) throw bad(`must be one of ${def.choices!.join(', ')}`);
      return raw;
    case 'bytes': {
      const n = parseBytes(raw);
      if (n === undefined) throw bad('must be a size such as 1048576, 512kB, 1MB or 16GB');
      return n;
    }
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        throw bad('must be the JSON text another zdm step printed as an output');
      }
    case 'url': {
      const reserved = unencodedUserinfo(raw);
      if (reserved) throw new InputError(def.name, percentEncodeAdvice(reserved));
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        throw bad('must be a URL such as postgres://user:password@host:5432/dbname');
      }
      if (!u.hostname) throw bad('must name a host');
      return u;
    }
  }
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function engineFromUrl(u: URL | undefined): EngineKind | undefined {
  if (!u) return undefined;
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mariadb') return 'mariadb';
  if (scheme === 'mysql') return 'mysql';
  return undefined;
}

/** Reads, validates and types every input of `step`. Throws InputError naming the input. */
export function readInputs(step: StepName, raw: RawInputs): Inputs {
  const inputs = resolve(step, parseAll(step, raw));
  checkIdentifiers(inputs);
  checkCombinations(inputs);
  return inputs;
}

/**
 * Parses what the step's inputs were given, and gives every input its default, also the inputs the
 * step does not read: a value the Inputs type promises is always there.
 */
function parseAll(step: StepName, raw: RawInputs): ParsedInputs {
  const values: Record<string, unknown> = {};
  for (const def of INPUT_DEFS) {
    const given = def.steps.includes(step) ? raw(def.name)?.trim() : undefined;
    const value = given ? given : def.default;
    if (value) values[camel(def.name)] = parseOne(def, value);
    else if (def.steps.includes(step) && def.requiredFor?.includes(step))
      throw new InputError(def.name, `is required by ${step}: ${firstSentence(def.description)}`);
    else if (def.default === '') values[camel(def.name)] = '';
  }
  if (!isParsed(values)) throw new Error('zdm bug: an input with a default has no value (see INPUTS in src/inputs.ts)');
  return values;
}

/** Every input with a default has its value: what ParsedInputs promises. */
function isParsed(values: Record<string, unknown>): values is ParsedInputs {
  return INPUT_DEFS.every((def) => def.default === undefined || values[camel(def.name)] !== undefined);
}

/** What depends on the engine, resolved once, here: the engine itself, the fence, the heartbeat table, the tunnel port. */
function resolve(step: StepName, p: ParsedInputs): Inputs {
  const engine = resolveEngine(p);
  const pg = engine === 'postgres';
  return {
    ...p,
    sourceUrl: p.sourceUrl && withTlsInputs(p.sourceUrl, pg, [p.sourceSslCa, p.sourceSslCert, p.sourceSslKey]),
    targetUrl: withTlsInputs(p.targetUrl, pg, [p.targetSslCa, p.targetSslCert, p.targetSslKey]),
    step,
    engine,
    fence: p.fence === 'auto' ? (pg ? 'shutdown' : 'read-only') : p.fence,
    fenceGiven: p.fence !== 'auto',
    heartbeatTable: p.heartbeatTable || (pg ? 'public.zdm_heartbeat' : 'zdm.heartbeat'),
    stateDir: p.stateDir || process.env.ZDM_STATE_DIR || '/var/lib/zdm',
    replicationTunnelPort: p.replicationTunnelPort ?? (pg ? 15432 : 13306),
  };
}

/** A side's ssl-ca / ssl-cert / ssl-key inputs as the URL's own parameters (sslrootcert... for PostgreSQL): one place the drivers, tools and servers read. */
function withTlsInputs(url: URL, pg: boolean, [ca, cert, key]: string[]): URL {
  if (!ca && !cert && !key) return url;
  const u = new URL(url.href);
  const names = pg ? ['sslrootcert', 'sslcert', 'sslkey'] : ['ssl-ca', 'ssl-cert', 'ssl-key'];
  for (const [i, v] of [ca, cert, key].entries()) if (v) u.searchParams.set(names[i], v);
  return u;
}

function resolveEngine(p: ParsedInputs): EngineKind {
  const fromUrl = engineFromUrl(p.sourceUrl ?? p.targetUrl);
  if (p.engine === 'auto' && !fromUrl)
    throw new InputError('engine', 'could not be told from the URL scheme: use postgres://, mysql:// or mariadb:// URLs, or set engine');
  const engine = p.engine === 'auto' ? fromUrl! : p.engine;
  for (const [name, u] of [
    ['source-url', p.sourceUrl],
    ['target-url', p.targetUrl],
  ] as const) {
    if (u && !engineFromUrl(u)) throw new InputError(name, `has an unknown scheme ${u.protocol}: use postgres://, mysql:// or mariadb://`);
  }
  checkEngineFamily(engine, p.sourceUrl, p.targetUrl);
  return engine;
}

/** Inputs that are valid each on its own but not together. */
function checkCombinations(i: Inputs): void {
  if (i.fence === 'shutdown' && i.engine !== 'postgres') {
    throw new InputError(
      'fence',
      'shutdown is the PostgreSQL fence: MySQL/MariaDB cutover fences with FLUSH TABLES WITH READ LOCK and read_only (fence: read-only or auto)',
    );
  }
  if (i.fence === 'accounts') checkAccountsFence(i);
  if (i.step === 'verify' && i.chunkRows < 1) throw new InputError('chunk-rows', 'must be at least 1 (e.g. 10000)');
  if (i.sourceSshHost && !i.sourceSshKey)
    throw new InputError('source-ssh-key', 'is required with source-ssh-host: the OpenSSH private key text, from a secret');
  if (i.reverseReplication && i.sourceSshHost)
    throw new InputError(
      'reverse-replication',
      'is not supported yet when the source is reached over SSH (source-ssh-host): the old source would have to reach the new primary through a tunnel of its own. Cut over without reverse-replication, or run zdm where it reaches both servers directly. Nothing was changed.',
    );
}

/** `fence: accounts` locks MySQL/MariaDB accounts; its kill statement needs the session id. */
function checkAccountsFence(i: Inputs): void {
  if (i.engine === 'postgres')
    throw new InputError(
      'fence',
      'accounts is the MySQL/MariaDB fence for sources without SUPER: for PostgreSQL choose shutdown (the default) or read-only, which locks the application roles itself (NOLOGIN). Nothing was changed.',
    );
  if (!i.killCommand.includes('{id}'))
    throw new InputError(
      'kill-command',
      `must hold {id}, where the session id goes, e.g. KILL CONNECTION {id} or CALL mysql.rds_kill({id}) (got ${JSON.stringify(i.killCommand)}). Nothing was changed.`,
    );
}

/**
 * The first sentence of a description, for short messages: it ends at a full stop followed by a
 * space, but not at an abbreviation ("e.g. `postgres://...`") nor inside a `code span`.
 */
export function firstSentence(text: string): string {
  let inCode = false;
  for (let i = 0; i < text.length - 1; i++) {
    if (text[i] === '`') inCode = !inCode;
    if (inCode || text[i] !== '.' || text[i + 1] !== ' ') continue;
    if (/\b(?:e\.g|i\.e|etc|vs|cf)$/i.test(text.slice(Math.max(0, i - 4), i))) continue;
    return text.slice(0, i + 1);
  }
  return text;
}

const FAMILY: Record<EngineKind, string> = { postgres: 'PostgreSQL', mariadb: 'MySQL/MariaDB', mysql: 'MySQL/MariaDB' };

/**
 * Both URLs and the engine must name the same family: a postgres:// source with a mysql:// target
 * would otherwise fail deep inside a driver ("received invalid response: 68") or time out.
 */
function checkEngineFamily(engine: EngineKind, source: URL | undefined, target: URL | undefined): void {
  for (const [name, u] of [
    ['source-url', source],
    ['target-url', target],
  ] as const) {
    const e = engineFromUrl(u);
    if (!u || !e || FAMILY[e] === FAMILY[engine]) continue;
    throw new InputError(
      name,
      `is a ${u.protocol}// (${FAMILY[e]}) URL, but the engine is ${engine} (${FAMILY[engine]}). zdm moves a database between servers of one engine: ` +
        'give source-url and target-url the same kind of scheme (postgres:// for PostgreSQL; mysql:// or mariadb:// for MySQL/MariaDB), and set engine to match or leave it at auto. Nothing was changed.',
    );
  }
}

/** PostgreSQL's own rule for slot names (ReplicationSlotValidateName). */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
/** A plain, unquoted SQL name: what zdm creates and quotes itself. */
const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
/** A login name: the characters real role and account names use, none that ends a quoted string. */
const LOGIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@$-]{0,62}$/;

/**
 * Names that end up in SQL statements, server configuration and passfiles are checked here, before
 * any server is touched: a slot named `x; DROP TABLE y` must not pass preflight and fail after the
 * target was stopped.
 */
function checkIdentifiers(i: Inputs): void {
  const pg = i.engine === 'postgres';
  for (const [value, name] of [
    [i.replicationSlot, 'replication-slot'],
    [i.reverseReplicationSlot, 'reverse-replication-slot'],
  ] as const) {
    if (!SLOT_NAME.test(value))
      throw new InputError(
        name,
        `must be a replication slot name: 1 to 63 lower-case letters, digits or underscores, e.g. zdm_replica (got ${JSON.stringify(value)})`,
      );
  }
  const user = i.replicationUser;
  if (user !== '' && !LOGIN_NAME.test(user))
    throw new InputError(
      'replication-user',
      `must be a user name of up to 63 letters, digits and _ . @ $ - (no spaces, quotes or semicolons), e.g. zdm_repl (got ${JSON.stringify(user)})`,
    );
  const table = i.heartbeatTable;
  const parts = table.split('.');
  const form = pg
    ? 'table or schema.table, e.g. public.zdm_heartbeat (the schema must exist)'
    : 'database.table, e.g. zdm.heartbeat (zdm creates the database)';
  if ((pg ? parts.length > 2 : parts.length !== 2) || !parts.every((p) => SQL_NAME.test(p)))
    throw new InputError(
      'heartbeat-table',
      `must be ${form}; each name 1 to 63 letters, digits, _ or $, starting with a letter or _ (got ${JSON.stringify(table)})`,
    );
}

/**
 * The user part of a URL as the user meant it. A parser ends it at the first / ? or #, so a password
 * holding one of them leaves an @ further on: in the path, in the fragment, or in the query before
 * something shaped like host/path. Then the user part runs to that last @.
 */
function splitUserinfo(raw: string): { userinfo: string; broken: boolean } | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  if (!m) return undefined;
  const rest = raw.slice(m[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = rest.lastIndexOf('@');
  if (at < 0) return undefined;
  if (end >= 0 && at > end) {
    const after = rest.slice(at + 1);
    const q = rest.indexOf('?');
    const hash = rest.indexOf('#');
    const inPath = q < 0 || at < q;
    const inFragment = hash >= 0 && at > hash;
    const hostShaped = /^[^=&]*\/[^=&]*$/.test(after);
    if (inPath || inFragment || hostShaped) return { userinfo: rest.slice(0, at), broken: true };
  }
  const aAt = authority.lastIndexOf('@');
  return aAt < 0 ? undefined : { userinfo: authority.slice(0, aAt), broken: false };
}

/** What of a URL's user part must be percent-encoded: # / ? that end it early, or a % that starts no %XX. */
function unencodedUserinfo(raw: string): string[] | undefined {
  const p = splitUserinfo(raw);
  if (!p) return undefined;
  const found = [...new Set([...p.userinfo].filter((ch) => '#/?'.includes(ch)))];
  if (/%(?![0-9a-f]{2})/i.test(p.userinfo)) found.push('%');
  return found.length ? found : undefined;
}

function percentEncodeAdvice(chars: string[]): string {
  const code = (ch: string) => `${ch} as %${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  return (
    `has a password (or user name) holding ${chars.map((c) => `"${c}"`).join(', ')}, which a URL reads as the end of the user part (the rest would be taken for the host). ` +
    `Percent-encode the password: ${['@', '#', '/', ':', '%', '?'].map(code).join(', ')}, e.g. postgres://app:p%40ss%23word@db1.example:5432/app for the password p@ss#word ` +
    "(node -e 'console.log(encodeURIComponent(process.argv[1]))' 'the password' prints it)."
  );
}

/** The password of a URL as the user meant it: the whole of it, also when the URL does not parse. */
function urlPasswords(item: string): string[] {
  const p = splitUserinfo(item);
  if (p && unencodedUserinfo(item)) {
    const colon = p.userinfo.indexOf(':');
    const pw = colon < 0 ? '' : p.userinfo.slice(colon + 1);
    let decoded = pw;
    try {
      decoded = decodeURIComponent(pw);
    } catch {
      /* a stray % */
    }
    return [pw, decoded];
  }
  try {
    const u = new URL(item);
    return u.password ? [u.password, decodeURIComponent(u.password)] : [];
  } catch {
    return [];
  }
}

/** Every value that must never be printed, from the raw inputs. */
export function secretValues(step: StepName, raw: RawInputs): string[] {
  const out: string[] = [];
  for (const def of inputsFor(step)) {
    const v = raw(def.name)?.trim();
    if (!def.secret || !v) continue;
    out.push(v);
    // A multi-line secret (a private key) is masked line by line too.
    if (v.includes('\n')) for (const line of v.split('\n')) if (line.trim().length >= 8) out.push(line.trim());
    // A URL, or a list of them (pooler-admin-urls): each password is masked on its own too.
    // A URL that does not parse as meant: its whole password, never the fragment a parser would make of it.
    for (const item of def.kind === 'url' ? [v] : v.split(/[\s,]+/)) out.push(...urlPasswords(item));
  }
  return [...new Set(out.filter((s) => s.length > 0))];
}
