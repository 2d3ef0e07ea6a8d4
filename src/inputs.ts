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
export const STEPS = [...MIGRATION_STEPS, ...WAY_BACK_STEPS] as const;
export type StepName = (typeof STEPS)[number];

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
}

export interface OutputDef {
  name: string;
  description: string;
  step: StepName;
}

const ALL = STEPS;
const CONNECTED: readonly StepName[] = ALL;

export const INPUTS: readonly InputDef[] = [
  {
    name: 'engine',
    kind: 'choice',
    choices: ['auto', 'postgres', 'mariadb', 'mysql'],
    default: 'auto',
    steps: ALL,
    description: 'Database engine. `auto` takes it from the scheme of `source-url` (postgres:// or mysql://, mariadb://).',
  },
  {
    name: 'source-url',
    kind: 'url',
    secret: true,
    steps: CONNECTED,
    requiredFor: ['seed-replica', 'await-lag-zero', 'cutover', 'rollback', 'finalize'],
    description:
      'Admin connection to the live source, e.g. `postgres://admin:PASSWORD@db-old:5432/postgres`. Pass it from a secret; it is masked and never written to outputs or logs.',
  },
  {
    name: 'target-url',
    kind: 'url',
    secret: true,
    steps: CONNECTED,
    requiredFor: ALL,
    description: 'Admin (superuser) connection to the new target server, e.g. `postgres://postgres:PASSWORD@127.0.0.1:5432/postgres`. Masked.',
  },
  {
    name: 'replication-user',
    kind: 'string',
    steps: ['seed-replica', 'cutover'],
    requiredFor: ['seed-replica'],
    description:
      'Role on the source with the REPLICATION attribute (PostgreSQL; a user with REPLICATION SLAVE on MySQL/MariaDB) that the target streams with. With reverse-replication, cutover has the old source stream from the new primary as the same user (the copy brought it there).',
  },
  {
    name: 'replication-password',
    kind: 'string',
    secret: true,
    steps: ['seed-replica', 'cutover'],
    requiredFor: ['seed-replica'],
    description:
      'Password of `replication-user`. Masked; on the target (and, with reverse-replication, on the old source) it is stored only in a passfile readable by the server user, never in the server configuration.',
  },
  {
    name: 'source-replication-address',
    kind: 'string',
    default: '',
    steps: ['seed-replica'],
    description:
      'host:port at which the TARGET SERVER reaches the source for replication, when it differs from the host in `source-url` (e.g. a private address or a tunnel). Empty: the host and port of `source-url`.',
  },
  {
    name: 'target-data-dir',
    kind: 'string',
    steps: ['seed-replica'],
    requiredFor: ['seed-replica'],
    description:
      "The target server's data directory, e.g. `/var/lib/postgresql/15/main`. seed-replica replaces its contents with the copy of the source (the old contents are kept aside until the new replica runs).",
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
    steps: ['seed-replica', 'rollback'],
    description:
      'Shell command that stops the target server. Empty: `systemctl stop postgresql` (PostgreSQL) or `systemctl stop mariadb`. rollback with `fence: shutdown` (PostgreSQL) fences the new primary with it: it must be a fast shutdown.',
  },
  {
    name: 'target-memory',
    kind: 'bytes',
    default: '',
    steps: ['tune-target'],
    description: "RAM of the target host used to size the catch-up settings, e.g. `16GB`. Empty: read from the host's /proc/meminfo.",
  },
  {
    name: 'tuning',
    kind: 'json',
    default: '',
    steps: ['seed-replica', 'cutover'],
    description:
      'The `tuning` output of tune-target: the settings it changed with their original values. seed-replica re-applies them to the fresh copy; cutover restores the originals.',
  },
  {
    name: 'heartbeat-table',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'rollback'],
    description:
      'Table zdm creates on the source and writes a heartbeat row to (about every 500 ms) to measure real replication lag on the target. Empty: `public.zdm_heartbeat` (PostgreSQL) or `zdm.heartbeat` (MySQL/MariaDB).',
  },
  {
    name: 'replication-slot',
    kind: 'string',
    default: 'zdm_replica',
    steps: ['seed-replica', 'await-lag-zero', 'cutover'],
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
    choices: ['auto', 'shutdown', 'read-only'],
    default: 'auto',
    steps: ['cutover', 'rollback'],
    description:
      'How cutover blocks writes on the source (rollback: on the new primary, the same way). `auto`: `shutdown` for PostgreSQL, `read-only` for MySQL/MariaDB. PostgreSQL `shutdown` (safe default): a fast shutdown of the source with `source-stop-command`; nothing can write after it, and the target is proven to hold the shutdown checkpoint. PostgreSQL `read-only`: read-only default, NOLOGIN for every other login role, all client sessions terminated; the source stays up but cannot rejoin as a standby without pg_rewind. MySQL/MariaDB `read-only`: FLUSH TABLES WITH READ LOCK held on a session of its own until promotion, plus read_only (super_read_only on MySQL).',
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
    name: 'seed-method',
    kind: 'choice',
    choices: ['physical', 'logical'],
    default: 'physical',
    steps: ['seed-replica'],
    description:
      'MySQL/MariaDB: `physical` streams a hot physical backup (mariadb-backup / XtraBackup), the way to seed anything but a small database. `logical` (MariaDB) loads a consistent `mariadb-dump --single-transaction` into the running target, refused above `logical-max-size`.',
  },
  {
    name: 'logical-max-size',
    kind: 'bytes',
    default: '5GB',
    steps: ['seed-replica'],
    description:
      'Largest source that `seed-method: logical` accepts. A dump rebuilds every table and index through SQL on the target: about 4x slower than a physical copy here, and hours for large databases, while the source keeps binlogs for the replica to catch up with.',
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
    name: 'allow-privileged-writers',
    kind: 'bool',
    default: 'false',
    steps: ['cutover', 'rollback'],
    description:
      'MySQL/MariaDB: proceed even when sessions of accounts that can write past read_only (SUPER, READ_ONLY ADMIN) are connected to the source. The read lock held during cutover stops them; read_only afterwards does not.',
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
    steps: ['tune-target', 'cutover'],
    description:
      'MySQL/MariaDB: the option file tune-target writes the catch-up profile to, so that it survives restarts; cutover rewrites it without the relaxed-durability lines. Empty: `/etc/mysql/mariadb.conf.d/99-zdm-migration.cnf` (MariaDB) or `/etc/mysql/mysql.conf.d/99-zdm-migration.cnf` (MySQL).',
  },
  {
    name: 'source-ssh-host',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description:
      "Reach the source through SSH: `host` or `host:port` of its SSH server. zdm's own SQL then goes through a tunnel (source-url names the database as seen from that host, e.g. 127.0.0.1:5432), the MySQL/MariaDB backup runs there, and seed-replica starts a supervised replication tunnel on the target host. Empty: connect directly.",
  },
  {
    name: 'source-ssh-user',
    kind: 'string',
    default: 'root',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description: 'SSH user on the source host (root, or a user with passwordless sudo for the backup and the server commands).',
  },
  {
    name: 'source-ssh-key',
    kind: 'string',
    secret: true,
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description: 'OpenSSH private key text for source-ssh-user. Masked; the replication tunnel keeps a copy readable only by root in tunnel-dir until cutover.',
  },
  {
    name: 'source-ssh-passphrase',
    kind: 'string',
    secret: true,
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description: 'Passphrase of source-ssh-key, when it is encrypted. Masked.',
  },
  {
    name: 'source-ssh-host-key',
    kind: 'string',
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description:
      "The source SSH server's host key: its SHA256 fingerprint (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) or a known_hosts line. Always verified; required unless source-ssh-insecure-accept-any-host-key is true.",
  },
  {
    name: 'source-ssh-insecure-accept-any-host-key',
    kind: 'bool',
    default: 'false',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description:
      'Connect without verifying the host key (logged loudly as a warning). Only for throwaway test hosts: anyone in the middle could read and change the database traffic.',
  },
  {
    name: 'replication-tunnel-port',
    kind: 'int',
    default: '',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
    description:
      'Local port on the target host where the supervised replication tunnel listens (the target server replicates from 127.0.0.1:<port>). Empty: 15432 (PostgreSQL) or 13306 (MySQL/MariaDB).',
  },
  {
    name: 'tunnel-dir',
    kind: 'string',
    default: '/var/lib/zdm/tunnels',
    steps: ['seed-replica', 'await-lag-zero', 'cutover', 'finalize'],
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
      'Keep a way back: right after promotion, make the old source a replica of the new primary, so that `rollback` can switch back without losing a write until `finalize`. PostgreSQL: needs source-start-command and replication-user/password; after `fence: shutdown` the old source rejoins as a standby as it is, after `fence: read-only` it is first stopped (source-stop-command) and rewound with pg_rewind (needs wal_log_hints or data checksums, and a superuser in target-url). MySQL/MariaDB: needs GTIDs and the binlog on the target; the old source replicates from the exact GTID position of the fence. Checked before writes are blocked; not supported yet with source-ssh-host.',
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
      'PostgreSQL: physical replication slot created on the new primary for the old source, so that it keeps the WAL a rollback needs between jobs. Dropped by finalize.',
  },
];

export const OUTPUTS: readonly OutputDef[] = [
  {
    step: 'tune-target',
    name: 'tuning',
    description: 'JSON list of the settings changed on the target, each with its original value and why. Pass it to seed-replica and cutover.',
  },
  { step: 'tune-target', name: 'engine', description: 'The engine detected (postgres, mariadb or mysql).' },
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
  { step: 'cutover', name: 'final-position', description: 'The last position of the source, proven applied on the target before promotion.' },
  { step: 'cutover', name: 'fence', description: 'The fence used (shutdown or read-only).' },
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
  { step: 'rollback', name: 'fence', description: 'The fence used on the new primary (shutdown or read-only).' },
  { step: 'finalize', name: 'reverse-replication', description: '`removed` once the old source no longer replicates from the new primary.' },
];

export function inputsFor(step: StepName): InputDef[] {
  return INPUTS.filter((i) => i.steps.includes(step));
}

export function outputsFor(step: StepName): OutputDef[] {
  return OUTPUTS.filter((o) => o.step === step);
}

export function isStep(s: string): s is StepName {
  return (STEPS as readonly string[]).includes(s);
}

/** Raw values by input name; undefined or '' means "not given". */
export type RawInputs = (name: string) => string | undefined;

export interface Inputs {
  step: StepName;
  engine: 'postgres' | 'mariadb' | 'mysql';
  sourceUrl?: URL;
  targetUrl: URL;
  replicationUser: string;
  replicationPassword: string;
  sourceReplicationAddress: string;
  targetDataDir: string;
  targetStartCommand: string;
  targetStopCommand: string;
  targetMemory?: number;
  tuning?: unknown;
  heartbeatTable: string;
  replicationSlot: string;
  maxLagBytes: number;
  maxLagSeconds: number;
  settleSeconds: number;
  timeoutSeconds: number;
  fence: 'shutdown' | 'read-only';
  allowPrivilegedWriters: boolean;
  seedMethod: 'physical' | 'logical';
  backupOptions: string;
  sourceSshHost: string;
  sourceSshUser: string;
  sourceSshKey: string;
  sourceSshPassphrase: string;
  sourceSshHostKey: string;
  sourceSshInsecureAcceptAnyHostKey: boolean;
  replicationTunnelPort: number;
  tunnelDir: string;
  logicalMaxSize: number;
  sourceDataDir: string;
  targetConfigFile: string;
  sourceStopCommand: string;
  sourceStartCommand: string;
  applyTimeoutSeconds: number;
  endpoint: string;
  onPromotedCommand: string;
  reverseReplication: boolean;
  targetReplicationAddress: string;
  reverseReplicationSlot: string;
}

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

function engineFromUrl(u: URL | undefined): Inputs['engine'] | undefined {
  if (!u) return undefined;
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mariadb') return 'mariadb';
  if (scheme === 'mysql') return 'mysql';
  return undefined;
}

/** Reads, validates and types every input of `step`. Throws InputError naming the input. */
export function readInputs(step: StepName, raw: RawInputs): Inputs {
  const out: Record<string, unknown> = { step };
  for (const def of inputsFor(step)) {
    const given = raw(def.name)?.trim();
    const value = given ? given : def.default;
    if (!value) {
      if (def.requiredFor?.includes(step)) throw new InputError(def.name, `is required by ${step}: ${firstSentence(def.description)}`);
      continue;
    }
    out[camel(def.name)] = parseOne(def, value);
  }
  const fromUrl = engineFromUrl((out.sourceUrl as URL | undefined) ?? (out.targetUrl as URL | undefined));
  if (out.engine === 'auto' || out.engine === undefined) {
    if (!fromUrl) throw new InputError('engine', 'could not be told from the URL scheme: use postgres://, mysql:// or mariadb:// URLs, or set engine');
    out.engine = fromUrl;
  }
  for (const key of ['sourceUrl', 'targetUrl'] as const) {
    const u = out[key] as URL | undefined;
    if (u && !engineFromUrl(u)) {
      throw new InputError(key === 'sourceUrl' ? 'source-url' : 'target-url', `has an unknown scheme ${u.protocol}: use postgres://, mysql:// or mariadb://`);
    }
  }
  const pg = out.engine === 'postgres';
  if (!out.heartbeatTable) out.heartbeatTable = pg ? 'public.zdm_heartbeat' : 'zdm.heartbeat';
  if (out.fence === 'auto') out.fence = pg ? 'shutdown' : 'read-only';
  if (out.fence === 'shutdown' && !pg) {
    throw new InputError(
      'fence',
      'shutdown is the PostgreSQL fence: MySQL/MariaDB cutover fences with FLUSH TABLES WITH READ LOCK and read_only (fence: read-only or auto)',
    );
  }
  out.allowPrivilegedWriters ??= false;
  out.sourceSshInsecureAcceptAnyHostKey ??= false;
  out.reverseReplication ??= false;
  out.replicationTunnelPort ??= pg ? 15432 : 13306;
  for (const k of [
    'sourceSshHost',
    'sourceSshKey',
    'sourceSshPassphrase',
    'sourceSshHostKey',
    'sourceReplicationAddress',
    'sourceDataDir',
    'targetConfigFile',
    'targetReplicationAddress',
    'replicationUser',
    'replicationPassword',
    'targetStartCommand',
    'targetStopCommand',
    'sourceStopCommand',
    'sourceStartCommand',
    'endpoint',
    'onPromotedCommand',
  ] as const)
    out[k] ??= '';
  if (out.sourceSshHost && !out.sourceSshKey)
    throw new InputError('source-ssh-key', 'is required with source-ssh-host: the OpenSSH private key text, from a secret');
  if (out.reverseReplication && out.sourceSshHost)
    throw new InputError(
      'reverse-replication',
      'is not supported yet when the source is reached over SSH (source-ssh-host): the old source would have to reach the new primary through a tunnel of its own. Cut over without reverse-replication, or run zdm where it reaches both servers directly. Nothing was changed.',
    );
  return out as unknown as Inputs;
}

function firstSentence(text: string): string {
  const i = text.indexOf('. ');
  return i < 0 ? text : text.slice(0, i + 1);
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
    if (def.kind === 'url') {
      try {
        const u = new URL(v);
        if (u.password) out.push(u.password, decodeURIComponent(u.password));
      } catch {
        /* invalid URLs are reported by readInputs */
      }
    }
  }
  return [...new Set(out.filter((s) => s.length > 0))];
}
