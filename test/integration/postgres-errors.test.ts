/** Bad inputs and unsafe states get one clear error naming what to fix, and change nothing. */
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { startPostgres, type PostgresSandbox } from '../../src/sandbox/postgres.js';

let pair: PgPair;
let minimal: PostgresSandbox;

beforeAll(async () => {
  [pair, minimal] = await Promise.all([startPgPair(), startPostgres({ name: 'minimal', settings: { wal_level: 'minimal', max_wal_senders: 0 } })]);
}, 120_000);

afterAll(async () => {
  await Promise.all([pair?.destroy(), minimal?.destroy()]);
}, 60_000);

function seedInputs(over: Record<string, string> = {}): Record<string, string> {
  return {
    'source-url': pair.source.url(),
    'target-url': pair.target.url(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
    'target-start-command': pair.target.startCommand,
    'target-stop-command': pair.target.stopCommand,
    ...over,
  };
}

async function failure(step: StepName, raw: Record<string, string>): Promise<{ message: string; log: string }> {
  const lines: string[] = [];
  try {
    await runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
  } catch (e) {
    return { message: describeError(e), log: lines.join('\n') };
  }
  throw new Error(`${step} succeeded but should have failed`);
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function targetUntouched() {
  expect(await pair.target.isRunning()).toBe(true);
  const [{ rec }] = await pair.target.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
  expect(rec).toBe(false);
}

describe('seed-replica refuses bad input with a clear message', () => {
  it('unreachable host', async () => {
    const port = await freePort();
    const { message } = await failure('seed-replica', seedInputs({ 'source-url': `postgres://postgres:x@127.0.0.1:${port}/postgres` }));
    expect(message).toBe(
      `source-url: cannot reach 127.0.0.1:${port}: connection refused. Check the host and port, and that the server is running and listens on that address.`,
    );
    await targetUntouched();
  });

  it('wrong password, never echoed', async () => {
    const url = pair.source.url({ password: 'definitely-wrong-pw' });
    const { message, log } = await failure('seed-replica', seedInputs({ 'source-url': url }));
    expect(message).toMatch(/^source-url: password authentication failed for user "postgres" at 127\.0\.0\.1:\d+\. Check the password in the secret\.$/);
    expect(message + log).not.toContain('definitely-wrong-pw');
  });

  it('replication user without the REPLICATION attribute', async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'replication-user': pair.appUser, 'replication-password': pair.appPassword }));
    expect(message).toMatch(/preflight failed, nothing was changed/);
    expect(message).toContain(`replication role: role "${pair.appUser}" lacks the REPLICATION attribute: ALTER ROLE ${pair.appUser} WITH LOGIN REPLICATION.`);
    await targetUntouched();
  });

  it('wrong replication password', async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'replication-password': 'nope-nope' }));
    expect(message).toMatch(/replication connection: replication-user\/replication-password: password authentication failed for user "zdm_repl"/);
    await targetUntouched();
  });

  it('wal_level=minimal on the source', async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'source-url': minimal.url() }));
    expect(message).toContain('source wal_level: wal_level is minimal on the source: set wal_level = replica in its postgresql.conf and restart it.');
    await targetUntouched();
  });

  it('target data directory not writable by its owner', async () => {
    const parent = path.dirname(pair.target.dataDir);
    const st = await fs.stat(parent);
    await fs.chown(parent, 0, 0);
    await fs.chmod(parent, 0o755);
    try {
      const { message } = await failure('seed-replica', seedInputs());
      expect(message).toContain(`target-data-dir writable: postgres (the data directory's owner) cannot create entries in ${parent}`);
    } finally {
      await fs.chown(parent, st.uid, st.gid);
      await fs.chmod(parent, st.mode & 0o7777);
    }
    await targetUntouched();
  });

  it("target-data-dir that is not the target server's", async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'target-data-dir': '/var/lib/postgresql/15/main' }));
    expect(message).toContain(
      `target-data-dir is /var/lib/postgresql/15/main, but the server at target-url reports its data directory as ${pair.target.dataDir}`,
    );
  });

  it('no target-data-dir for the physical seed method auto chooses: refused, naming the input, nothing changed', async () => {
    const { 'target-data-dir': _given, ...without } = seedInputs();
    const { message, log } = await failure('seed-replica', without);
    expect(log).toMatch(/method: physical \(auto: same major/);
    expect(message).toMatch(/preflight failed, nothing was changed/);
    expect(message).toContain(
      `target-data-dir matches target: target-data-dir is empty: the physical seed (pg_basebackup) replaces the target's data directory, so give it, e.g. ${pair.target.dataDir}; a logical seed (method: logical) does not need it`,
    );
    await targetUntouched();
  });

  it('preflight with method: physical and no target-data-dir gives the same answer', async () => {
    const { 'target-data-dir': _given, ...without } = seedInputs({ method: 'physical' });
    const { message } = await failure('preflight', without);
    expect(message).toContain(
      `target-data-dir matches target: target-data-dir is empty: the physical seed (pg_basebackup) replaces the target's data directory, so give it, e.g. ${pair.target.dataDir}; a logical seed (method: logical) does not need it`,
    );
  });

  it('target pointing at the source itself', async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'target-url': pair.source.url(), 'target-data-dir': pair.source.dataDir }));
    expect(message).toContain('target is not the source: target-url points at the source server itself');
    expect(await pair.source.isRunning()).toBe(true);
  });

  it('a missing required input', async () => {
    const { message } = await failure('seed-replica', seedInputs({ 'replication-user': '' }));
    expect(message).toMatch(/^input replication-user is required by seed-replica/);
  });

  it('cutover with the shutdown fence but no way to stop the source', async () => {
    const { message } = await failure('cutover', { 'source-url': pair.source.url(), 'target-url': pair.target.url() });
    expect(message).toMatch(/^input source-stop-command is required with fence: shutdown/);
  });
});
