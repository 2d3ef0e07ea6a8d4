/**
 * PostgreSQL servers that accept TCP only over TLS (ssl = on, hostssl lines only, the harness's
 * test CA): a physical migration end to end (seed, replication, cutover with reverse replication,
 * rollback) with every link verified against the CA, and the refusals of a wrong CA and of a host
 * name the certificate does not list.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPg } from '../../src/engines/postgres/connect.js';
import { describeError } from '../../src/errors.js';
import { readInputs, secretValues, type StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { startPostgres, testCerts } from '../../src/sandbox/index.js';
import { pgAppWrite } from '../harness/pg-app.js';

const logged: string[] = [];
const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog((l) => logged.push(l)));

async function failure(step: StepName, raw: Record<string, string>): Promise<string> {
  try {
    await run(step, raw);
  } catch (e) {
    return describeError(e);
  }
  throw new Error(`${step} succeeded but should have failed`);
}

/** Every client connection the server has now, over TCP: whether each is encrypted. */
const tcpSessions = (pair: PgPair, server: 'source' | 'target') =>
  pair[server].query<{ backend_type: string; ssl: boolean; usename: string | null }>(
    'SELECT a.backend_type, s.ssl, a.usename FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr IS NOT NULL AND a.pid <> pg_backend_pid()',
  );

describe('PostgreSQL requiring TLS (hostssl only), every link verified against the harness CA', () => {
  let pair: PgPair;
  let tuning = '';
  const common = () => ({ 'source-url': pair.source.url(), 'target-url': pair.target.url() });

  beforeAll(async () => {
    pair = await startPgPair({ tls: true, sourceSettings: { wal_level: 'logical' } });
    await loadSampleData(pair, 1);
  }, 180_000);
  afterAll(async () => {
    await pair?.destroy();
  }, 60_000);

  it('refuses plaintext: the servers have no line for it', async () => {
    const u = new URL(pair.source.url());
    u.searchParams.set('sslmode', 'disable');
    const m = await failure('verify', { ...common(), 'source-url': u.href });
    expect(m).toMatch(/source-url: the server at 127\.0\.0\.1:\d+ accepts only TLS connections .*sslmode=disable\. Use sslmode=verify-full/);
  }, 60_000);

  it('refuses a CA that did not sign the certificate, naming the side, the input and the fix', async () => {
    const m = await failure('verify', { ...common(), 'source-ssl-ca': (await testCerts()).wrongCaFile });
    expect(m).toMatch(/source-url: the TLS certificate of 127\.0\.0\.1:\d+ is not signed by the CA .*Set source-ssl-ca .* to the CA certificate/);
  }, 60_000);

  it('refuses a host name the certificate does not list (verify-full), and verify-ca accepts it', async () => {
    // 127.0.0.2 reaches the same server, but the certificate is for 127.0.0.1 and localhost only.
    const relay = net.createServer((c) => {
      const up = net.connect(pair.target.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.2', r));
    try {
      const u = new URL(pair.target.url());
      u.hostname = '127.0.0.2';
      u.port = String((relay.address() as net.AddressInfo).port);
      const m = await failure('tune-target', { 'target-url': u.href, 'target-memory': '512MB', 'dry-run': 'true' });
      expect(m).toMatch(/target-url: the TLS certificate of 127\.0\.0\.2:\d+ is not for the host name "127\.0\.0\.2" .*use sslmode=verify-ca/);
      u.searchParams.set('sslmode', 'verify-ca');
      await run('tune-target', { 'target-url': u.href, 'target-memory': '512MB', 'dry-run': 'true' });
    } finally {
      relay.close();
    }
  }, 60_000);

  it('preflight reports every link encrypted and verified, and sslmode=prefer as encrypted but not verified', async () => {
    const raw = {
      ...common(),
      'replication-user': pair.replicationUser,
      'replication-password': pair.replicationPassword,
      'target-data-dir': pair.target.dataDir,
    };
    const rowsOf = async (r: Record<string, string>) =>
      (JSON.parse((await run('preflight', r)).outputs.checks) as { check: string; status: string; detail: string }[]).filter((c) => c.check.startsWith('TLS '));
    const tls = await rowsOf(raw);
    expect(tls.map((c) => c.check)).toEqual(['TLS runner -> source', 'TLS runner -> target', 'TLS replication: target server -> source']);
    for (const c of tls)
      expect(c).toMatchObject({ status: 'ok', detail: expect.stringMatching(/encrypted, certificate and host name verified \(sslmode=verify-full\)/) });
    // The replication link named by another address (as across hosts) and left at sslmode=prefer: encrypted, not verified.
    const prefer = new URL(pair.source.url());
    prefer.searchParams.set('sslmode', 'prefer');
    const [, , repl] = await rowsOf({ ...raw, 'source-url': prefer.href });
    expect(repl).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/encrypted, peer NOT verified \(sslmode=prefer\); to verify it, set sslmode=verify-full and source-ssl-ca/),
    });
  }, 120_000);

  it('seeds, replicates and cuts over with every link over verified TLS', async () => {
    tuning = (await run('tune-target', { ...common(), 'target-memory': '512MB' })).outputs.tuning;
    await run('seed-replica', {
      ...common(),
      'replication-user': pair.replicationUser,
      'replication-password': pair.replicationPassword,
      'target-data-dir': pair.target.dataDir,
      'target-start-command': pair.target.startCommand,
      'target-stop-command': pair.target.stopCommand,
      tuning,
    });
    // The standby's walreceiver: verify-full against the CA copied beside its data directory.
    const [wr] = await pair.target.query<{ conninfo: string }>('SELECT conninfo FROM pg_stat_wal_receiver');
    expect(wr.conninfo).toMatch(/sslmode=verify-full/);
    expect(wr.conninfo).toMatch(/sslrootcert=\S+\.primary\.sslrootcert\.pem/);
    const sessions = await tcpSessions(pair, 'source');
    expect(sessions.find((x) => x.backend_type === 'walsender')).toMatchObject({ ssl: true });
    expect(sessions.every((x) => x.ssl)).toBe(true);
    await pgAppWrite(pair, 'source', 1);
    await run('await-lag-zero', { ...common(), 'settle-seconds': '1' });
    const out = (
      await run('cutover', {
        ...common(),
        tuning,
        'source-stop-command': pair.source.fastStopCommand,
        'source-start-command': pair.source.startCommand,
        'reverse-replication': 'true',
        'replication-user': pair.replicationUser,
        'replication-password': pair.replicationPassword,
      })
    ).outputs;
    expect(out['reverse-replication']).toBe('running');
    // The old source streams back from the new primary, verified the same way.
    const [back] = await pair.source.query<{ conninfo: string }>('SELECT conninfo FROM pg_stat_wal_receiver');
    expect(back.conninfo).toMatch(/sslmode=verify-full/);
    const onNew = await tcpSessions(pair, 'target');
    expect(onNew.find((x) => x.backend_type === 'walsender')).toMatchObject({ ssl: true });
    expect(onNew.every((x) => x.ssl)).toBe(true);
  }, 240_000);

  it('rolls back over the same verified links', async () => {
    await pgAppWrite(pair, 'target', 2);
    await run('rollback', { ...common(), 'target-stop-command': pair.target.fastStopCommand, 'target-start-command': pair.target.startCommand });
    const [r] = await pair.source.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    expect(r.r).toBe(false);
    expect((await tcpSessions(pair, 'source')).every((x) => x.ssl)).toBe(true);
  }, 240_000);

  it('seeds logically over verified TLS: the subscription checks the source against the CA copied for the server', async () => {
    const t = await startPostgres({ name: 'tls-logical', password: pair.source.password, tls: true });
    try {
      const src = pair.source.url({ database: pair.appDatabase });
      await run('seed-replica', {
        'source-url': src,
        'target-url': t.url({ database: pair.appDatabase }),
        method: 'logical',
        'replication-user': pair.replicationUser,
        'replication-password': pair.replicationPassword,
      });
      const [sub] = await t.query<{ conninfo: string }>('SELECT subconninfo AS conninfo FROM pg_subscription');
      expect(sub.conninfo).toMatch(/sslmode=verify-full/);
      expect(sub.conninfo).toMatch(/sslrootcert='\S+\.subscription\.sslrootcert\.pem'/);
      const walsenders = (await tcpSessions(pair, 'source')).filter((x) => x.backend_type === 'walsender');
      expect(walsenders.length).toBeGreaterThan(0);
      expect(walsenders.every((x) => x.ssl)).toBe(true);
    } finally {
      await t.destroy();
    }
  }, 240_000);

  it('a password holding @#/:% works percent-encoded; unencoded it gets the percent-encoding error', async () => {
    const pw = 'p@ss#w/rd:50%x';
    await pair.source.query(`CREATE ROLE weird LOGIN PASSWORD '${pw}'`);
    const url = new URL(pair.source.url());
    const encoded = url.href.replace(/^postgres:\/\/[^@]+@/, `postgres://weird:${encodeURIComponent(pw)}@`);
    const i = readInputs('verify', (n) => ({ 'source-url': encoded, 'target-url': pair.target.url() })[n]);
    const c = await connectPg(i.sourceUrl!, { input: 'source-url' });
    try {
      expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe('weird');
    } finally {
      await c.end();
    }
    const plain = encoded.replace(encodeURIComponent(pw), pw);
    expect(() => readInputs('verify', (n) => ({ 'source-url': plain, 'target-url': pair.target.url() })[n])).toThrow(/percent-encode the password/i);
    expect(secretValues('verify', (n) => ({ 'source-url': plain })[n])).toContain(pw);
  }, 60_000);

  it('printed no password', () => {
    const text = logged.join('\n');
    for (const s of [pair.source.password, pair.replicationPassword]) expect(text).not.toContain(s);
  });
});
