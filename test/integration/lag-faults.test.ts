/**
 * await-lag-zero on a real PostgreSQL pair when something outside zdm breaks: replay paused on
 * the target (issue 13 item 12) and a server that goes away mid-step (item 7). Each gives one
 * message that says what broke and what to do, at once rather than at the timeout.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';
import { useSshd } from '../harness/index.js';
import { stopSupervisedTunnel } from '../../src/hosts/supervised-tunnel.js';
import { freePort } from '../../src/sandbox/util.js';

let pair: PgPair;
const sshd = useSshd({ name: 'lag-ssh' });
const common = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });

function run(step: StepName, raw: Record<string, string>, lines: string[] = []) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

async function failure(step: StepName, raw: Record<string, string>, lines: string[] = []): Promise<{ message: string; seconds: number }> {
  const started = Date.now();
  try {
    await run(step, raw, lines);
  } catch (e) {
    return { message: describeError(e), seconds: (Date.now() - started) / 1000 };
  }
  throw new Error(`${step} succeeded but should have failed`);
}

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  pair = await startPgPair();
  await loadSampleData(pair, 1);
  await run('seed-replica', {
    ...common(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
    'target-start-command': pair.target.startCommand,
    'target-stop-command': pair.target.stopCommand,
  });
  await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
}, 180_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

describe('await-lag-zero when replay is paused (issue 13 item 12)', () => {
  it('fails at once, not at its timeout, with the fix: pg_wal_replay_resume() on the target', async () => {
    await pair.target.query('SELECT pg_wal_replay_pause()');
    try {
      for (let i = 1; i <= 5; i++) await pgAppWrite(pair, 'source', i);
      const { message, seconds } = await failure('await-lag-zero', { ...common(), 'timeout-seconds': '600' });
      expect(message).toMatch(
        /^replication cannot catch up: WAL replay is paused on the target \(pg_is_wal_replay_paused\(\) is true: .*\), so it applies nothing however long zdm waits\. Resume it on the target with SELECT pg_wal_replay_resume\(\); then run this step again\n/,
      );
      // It read the state and stopped: nowhere near the 600 s timeout.
      expect(seconds).toBeLessThan(120);
      // cutover's lag gate refuses it too, before blocking any write.
      const gate = await failure('cutover', { ...common(), fence: 'read-only', 'max-lag-bytes': '1GB', 'max-lag-seconds': '3600' });
      expect(gate).toMatchObject({ message: expect.stringMatching(/^lag is too high to block writes now .*Nothing was changed\..*pg_wal_replay_resume\(\)/s) });
    } finally {
      await pair.target.query('SELECT pg_wal_replay_resume()');
    }
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
  }, 240_000);
});

describe('a server that goes away during await-lag-zero (issue 13 item 7)', () => {
  async function killedDuring(server: 'source' | 'target'): Promise<string> {
    const lines: string[] = [];
    const step = failure('await-lag-zero', { ...common(), 'settle-seconds': '600', 'timeout-seconds': '600' }, lines);
    await until('the first lag reading', () => lines.some((l) => l.startsWith('lag: ')));
    await pair[server].stop('immediate');
    const { message } = await step;
    await pair[server].start();
    return message;
  }

  it('the target: names it (input, host:port), what zdm was doing and what to do', async () => {
    const message = await killedDuring('target');
    expect(message).toMatch(
      new RegExp(
        `^lost the connection to the target \\(target-url, 127\\.0\\.0\\.1:${pair.target.port}\\) during await-lag-zero \\(Waiting for the target to catch up\\): .+\\. ` +
          'The server stopped or restarted, or the network between this runner and it broke\\. ' +
          "Once it is up and reachable again, run await-lag-zero again: it starts from the servers' real state\\.$",
      ),
    );
    expect(message).not.toContain(pair.target.password);
    expect(message).not.toMatch(/unexpected error/);
  }, 120_000);

  it('the source: names the source', async () => {
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
    const message = await killedDuring('source');
    expect(message).toMatch(new RegExp(`^lost the connection to the source \\(source-url, 127\\.0\\.0\\.1:${pair.source.port}\\) during await-lag-zero`));
    expect(message).not.toContain(pair.source.password);
  }, 120_000);

  /** Kills the sshd sessions (not the listener): what a cut network does to an open tunnel. */
  function cutSshSessions(): number {
    const listener = readdirSync('/proc').find((e) => {
      try {
        return /^\d+$/.test(e) && readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(`${sshd().baseDir}/sshd_config`);
      } catch {
        return false;
      }
    });
    const children = listener ? readFileSync(`/proc/${listener}/task/${listener}/children`, 'utf8').trim().split(/\s+/).filter(Boolean) : [];
    for (const pid of children) process.kill(Number(pid), 'SIGKILL');
    return children.length;
  }

  it('the SSH tunnel to the source is cut: names the source and the SSH host', async () => {
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
    const lines: string[] = [];
    // await-lag-zero keeps a supervised replication tunnel running: here in sshd's directory, stopped afterwards.
    const tunnelDir = `${sshd().baseDir}/tunnels`;
    const tunnelPort = await freePort();
    const step = failure(
      'await-lag-zero',
      {
        ...common(),
        'settle-seconds': '600',
        'timeout-seconds': '600',
        'source-ssh-host': `127.0.0.1:${sshd().port}`,
        'source-ssh-user': sshd().user,
        'source-ssh-key': sshd().privateKey,
        'source-ssh-host-key': sshd().hostKeyFingerprint,
        'tunnel-dir': tunnelDir,
        'replication-tunnel-port': String(tunnelPort),
      },
      lines,
    );
    let message: string;
    try {
      await until('the first lag reading', () => lines.some((l) => l.startsWith('lag: ')));
      expect(cutSshSessions()).toBeGreaterThan(0);
      ({ message } = await step);
    } finally {
      await stopSupervisedTunnel(tunnelDir, `replication-${tunnelPort}`);
    }
    expect(message).toMatch(
      new RegExp(
        `^lost the connection to the source \\(source-url, 127\\.0\\.0\\.1:${pair.source.port} through the SSH connection to 127\\.0\\.0\\.1:${sshd().port}\\) during await-lag-zero \\(Waiting for the target to catch up\\): .+ The server stopped or restarted, or the network or the SSH tunnel between this runner and it broke\\.`,
      ),
    );
    expect(message).not.toContain(pair.source.password);
  }, 120_000);
});
