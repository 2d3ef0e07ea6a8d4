/**
 * The source reached only through a real OpenSSH sshd on loopback: SQL through the tunnel, the
 * supervised replication tunnel surviving a killed connection, host keys enforced, and a failing
 * remote backup failing the seed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { readTunnelStatus, stopSupervisedTunnel } from '../../src/hosts/supervised-tunnel.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { appUrl, loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { freePort } from '../../src/sandbox/util.js';
import { useSshd } from '../harness/index.js';

const sshd = useSshd({ name: 'ssh-test' });
let pair: PgPair;
let maria: MariadbFixture;
let tunnelPort = 0;

beforeAll(async () => {
  [pair, maria] = await Promise.all([startPgPair(), MariadbFixture.start()]);
  await loadSampleData(pair, 2);
  tunnelPort = await freePort();
}, 180_000);

afterAll(async () => {
  await stopSupervisedTunnel(`${sshd().baseDir}/tunnels`, `replication-${tunnelPort}`).catch(() => undefined);
  await Promise.all([pair?.destroy(), maria?.destroy()]);
}, 60_000);

function sshInputs(over: Record<string, string> = {}): Record<string, string> {
  const s = sshd();
  return {
    'source-ssh-host': `127.0.0.1:${s.port}`,
    'source-ssh-user': s.user,
    'source-ssh-key': s.privateKey,
    'source-ssh-host-key': s.hostKeyFingerprint,
    'replication-tunnel-port': String(tunnelPort),
    'tunnel-dir': `${s.baseDir}/tunnels`,
    ...over,
  };
}

const pgCommon = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });

async function run(step: StepName, raw: Record<string, string>, lines: string[] = []) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

async function failure(step: StepName, raw: Record<string, string>): Promise<string> {
  try {
    await run(step, raw);
  } catch (e) {
    return describeError(e);
  }
  throw new Error(`${step} succeeded but should have failed`);
}

/** The per-connection sshd processes (children of the listening one). */
function sessionPids(): number[] {
  const main = Number(readFileSync(`${sshd().baseDir}/sshd.pid`, 'utf8').trim());
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(main)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter(Boolean);
}

describe('PostgreSQL through SSH', () => {
  it('refuses a host key that is not the pinned one, and an unpinned host', async () => {
    const wrong = await failure('await-lag-zero', {
      ...pgCommon(),
      ...sshInputs({ 'source-ssh-host-key': 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
    });
    expect(wrong).toBe(
      `source-ssh-host-key: 127.0.0.1:${sshd().port} presented host key ${sshd().hostKeyFingerprint}, which is not the pinned key. Someone may be intercepting the connection, or the host's key changed: check the key out of band before you change source-ssh-host-key.`,
    );
    const unpinned = await failure('await-lag-zero', { ...pgCommon(), ...sshInputs({ 'source-ssh-host-key': '' }) });
    expect(unpinned).toMatch(/^input source-ssh-host-key is required/);
  });

  it('seeds with SQL through the tunnel and replication through the supervised tunnel, which survives a killed connection', async () => {
    const lines: string[] = [];
    await run(
      'seed-replica',
      {
        ...pgCommon(),
        ...sshInputs(),
        'replication-user': pair.replicationUser,
        'replication-password': pair.replicationPassword,
        'target-data-dir': pair.target.dataDir,
        'target-start-command': pair.target.startCommand,
        'target-stop-command': pair.target.stopCommand,
      },
      lines,
    );
    expect(lines.join('\n')).toMatch(
      /reaching the source through SSH root@127\.0\.0\.1:\d+ \(cipher (aes128-gcm@openssh\.com|chacha20-poly1305@openssh\.com)\)/,
    );
    // sshd saw zdm's SQL and the replication stream as forwarded channels to the source's port.
    const log = readFileSync(sshd().logFile, 'utf8');
    expect(log).toMatch(new RegExp(`server_request_direct_tcpip: originator .* target 127\\.0\\.0\\.1 port ${pair.source.port}`));
    const [{ conninfo }] = await pair.target.query<{ conninfo: string }>("SELECT current_setting('primary_conninfo') AS conninfo");
    expect(conninfo).toContain(`port=${tunnelPort}`);
    const before = readTunnelStatus(`${sshd().baseDir}/tunnels`, `replication-${tunnelPort}`)!;
    expect(before.state).toBe('up');

    // Kill every SSH session: the tunnel's connection breaks; it must reconnect and replication resume.
    for (const pid of sessionPids()) process.kill(pid, 'SIGKILL');
    const c = new pg.Client({ connectionString: appUrl(pair, pair.source) });
    await c.connect();
    await c.query('CREATE TABLE IF NOT EXISTS after_kill (id int PRIMARY KEY)');
    await c.query('INSERT INTO after_kill VALUES (1)');
    await c.end();
    await run('await-lag-zero', { ...pgCommon(), ...sshInputs(), 'settle-seconds': '1', 'timeout-seconds': '90' });
    const after = readTunnelStatus(`${sshd().baseDir}/tunnels`, `replication-${tunnelPort}`)!;
    expect(after.state).toBe('up');
    expect(after.reconnects).toBeGreaterThanOrEqual(1);
    const t = new pg.Client({ connectionString: appUrl(pair, pair.target) });
    await t.connect();
    const { rows } = await t.query('SELECT id FROM after_kill');
    await t.end();
    expect(rows).toEqual([{ id: 1 }]);

    // The tunnel process itself killed (an OOM kill, a reboot): the next step starts it again.
    process.kill(after.pid, 'SIGKILL');
    const c2 = new pg.Client({ connectionString: appUrl(pair, pair.source) });
    await c2.connect();
    await c2.query('INSERT INTO after_kill VALUES (2)');
    await c2.end();
    const relog: string[] = [];
    await run('await-lag-zero', { ...pgCommon(), ...sshInputs(), 'settle-seconds': '1', 'timeout-seconds': '90' }, relog);
    expect(relog.join('\n')).toMatch(/replication tunnel replication-\d+ up: pid \d+/);
    const again = readTunnelStatus(`${sshd().baseDir}/tunnels`, `replication-${tunnelPort}`)!;
    expect(again.pid).not.toBe(after.pid);
    const t2 = new pg.Client({ connectionString: appUrl(pair, pair.target) });
    await t2.connect();
    const r2 = await t2.query('SELECT id FROM after_kill ORDER BY id');
    await t2.end();
    expect(r2.rows).toEqual([{ id: 1 }, { id: 2 }]);
  }, 150_000);
});

describe('MariaDB through SSH', () => {
  it('a backup that fails on the source host fails the seed, even though the extractor exits 0', async () => {
    const inputs = maria.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    const m = await failure('seed-replica', {
      ...inputs['seed-replica'],
      ...sshInputs({ 'replication-tunnel-port': String(await freePort()) }),
      'backup-options': '--no-such-option',
    });
    expect(m).toMatch(/^mariadb-backup on the source failed \(exit \d+\)/);
    // The target was put back as it was and runs again.
    expect(await maria.target.isRunning()).toBe(true);
    expect(await maria.target.query('SHOW REPLICA STATUS')).toEqual([]);
  }, 120_000);
});
