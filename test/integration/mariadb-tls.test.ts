/**
 * MariaDB servers with require_secure_transport=ON and the harness's test certificates: a physical
 * migration end to end (mariadb-backup, replication, cutover with reverse replication, rollback)
 * with every link verified against the CA, and the refusals of a wrong CA and of a host name the
 * certificate does not list.
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMy } from '../../src/engines/mysql/connect.js';
import { describeError } from '../../src/errors.js';
import { readInputs, type StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { startMariadb, testCerts, type MariadbSandbox } from '../../src/sandbox/index.js';

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

/** Every TCP session the server has now (but this one), with its Ssl_cipher: empty means plaintext. */
const sessions = (server: MariadbSandbox) =>
  server.query<{ command: string; cipher: string | null }>(
    "SELECT t.PROCESSLIST_COMMAND AS command, s.VARIABLE_VALUE AS cipher FROM performance_schema.threads t LEFT JOIN performance_schema.status_by_thread s ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_cipher' WHERE t.TYPE = 'FOREGROUND' AND t.PROCESSLIST_HOST LIKE '127.0.0.1%' AND t.PROCESSLIST_ID <> CONNECTION_ID()",
  );

describe('MariaDB with require_secure_transport=ON, every link verified against the harness CA', () => {
  let fx: MariadbFixture;
  let tuning = '';
  beforeAll(async () => {
    fx = await MariadbFixture.start({ tls: true, durable: false, settings: { 'performance-schema': 'ON' } });
    await fx.loadSampleData(1);
  }, 180_000);
  afterAll(async () => {
    await fx?.destroy();
  }, 60_000);
  const inputs = () => fx.stepInputs({ fence: 'auto', targetMemory: '512MB' });

  it('refuses a plaintext login with a message that points at TLS', async () => {
    const u = new URL(fx.source.url());
    u.searchParams.set('ssl-mode', 'DISABLED');
    const m = await failure('verify', { ...inputs()['await-lag-zero'], 'source-url': u.href });
    expect(m).toMatch(/source-url: access denied at 127\.0\.0\.1:\d+ with ssl-mode=DISABLED\. A server with require_secure_transport=ON/);
  }, 60_000);

  it('refuses a CA that did not sign the certificate, naming the side, the input and the fix', async () => {
    const m = await failure('verify', { ...inputs()['await-lag-zero'], 'target-ssl-ca': (await testCerts()).wrongCaFile });
    expect(m).toMatch(/target-url: the TLS certificate of 127\.0\.0\.1:\d+ is not signed by the CA .*Set target-ssl-ca .* to the CA certificate/);
  }, 60_000);

  it('refuses a host name the certificate does not list (VERIFY_IDENTITY), and VERIFY_CA accepts it', async () => {
    const relay = net.createServer((c) => {
      const up = net.connect(fx.target.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.2', r));
    try {
      const u = new URL(fx.target.url());
      u.hostname = '127.0.0.2';
      u.port = String((relay.address() as net.AddressInfo).port);
      const raw = { ...inputs()['tune-target'], 'target-url': u.href, 'dry-run': 'true' };
      expect(await failure('tune-target', raw)).toMatch(
        /target-url: the TLS certificate of 127\.0\.0\.2:\d+ is not for that host name .*use ssl-mode=VERIFY_CA/,
      );
      u.searchParams.set('ssl-mode', 'VERIFY_CA');
      await run('tune-target', { ...raw, 'target-url': u.href });
    } finally {
      relay.close();
    }
  }, 60_000);

  it('preflight reports every link encrypted and verified', async () => {
    const checks = JSON.parse((await run('preflight', inputs().preflight)).outputs.checks) as { check: string; status: string; detail: string }[];
    const tls = checks.filter((c) => c.check.startsWith('TLS '));
    expect(tls.map((c) => c.check)).toEqual(['TLS runner -> source', 'TLS runner -> target', 'TLS replication: target server -> source']);
    for (const c of tls)
      expect(c).toMatchObject({ status: 'ok', detail: expect.stringMatching(/encrypted, certificate and host name verified \(ssl-mode=VERIFY_IDENTITY\)/) });
  }, 120_000);

  it('seeds with mariadb-backup and replicates over verified TLS', async () => {
    tuning = (await run('tune-target', inputs()['tune-target'])).outputs.tuning;
    const seed = await run('seed-replica', { ...inputs()['seed-replica'], tuning });
    expect(seed.outputs.method).toBe('physical');
    const [st] = await fx.target.query<Record<string, string>>('SHOW REPLICA STATUS');
    expect(st).toMatchObject({ Master_SSL_Allowed: 'Yes', Master_SSL_Verify_Server_Cert: 'Yes', Slave_IO_Running: 'Yes' });
    expect(st.Master_SSL_CA_File).toMatch(/\.replication\.ssl-ca\.pem$/);
    const onSource = await sessions(fx.source);
    expect(onSource.find((x) => x.command === 'Binlog Dump' || /Binlog Dump/.test(x.command))?.cipher).toMatch(/^TLS_|^ECDHE|AES/);
    expect(onSource.every((x) => x.cipher)).toBe(true);
    await run('await-lag-zero', { ...inputs()['await-lag-zero'], 'settle-seconds': '1' });
  }, 240_000);

  it('cuts over with reverse replication, and rolls back, over verified TLS', async () => {
    const way = fx.wayBackInputs({ fence: 'read-only' });
    const cut = await run('cutover', { ...inputs().cutover, fence: 'read-only', tuning, ...way.cutover });
    expect(cut.outputs['reverse-replication']).toBe('running');
    const [back] = await fx.source.query<Record<string, string>>('SHOW REPLICA STATUS');
    expect(back).toMatchObject({ Master_SSL_Allowed: 'Yes', Master_SSL_Verify_Server_Cert: 'Yes' });
    expect((await sessions(fx.target)).every((x) => x.cipher)).toBe(true);
    await run('rollback', way.rollback);
    const [{ ro }] = await fx.source.query<{ ro: number }>('SELECT @@read_only AS ro');
    expect(Number(ro)).toBe(0);
  }, 240_000);

  it('seeds logically (mydumper/myloader) over TLS into another server that requires it', async () => {
    const t = await startMariadb({ name: 'tls-logical', serverId: 3, password: fx.source.password, durable: false, tls: true });
    try {
      const seed = await run('seed-replica', {
        engine: 'mariadb',
        'source-url': fx.source.url(),
        'target-url': t.url(),
        method: 'logical',
        'replication-user': fx.replicationUser,
        'replication-password': fx.replicationPassword,
      });
      expect(seed.outputs.method).toBe('logical');
      const [st] = await t.query<Record<string, string>>('SHOW REPLICA STATUS');
      expect(st).toMatchObject({ Master_SSL_Allowed: 'Yes', Master_SSL_Verify_Server_Cert: 'Yes', Slave_IO_Running: 'Yes' });
      const n = async (s: MariadbSandbox) => Number((await s.query<{ n: string }>('SELECT COUNT(*) AS n FROM appdb.sample'))[0].n);
      expect(await n(t)).toBe(await n(fx.source));
    } finally {
      await t.destroy();
    }
  }, 240_000);

  it('a password holding @#/:% works percent-encoded', async () => {
    const pw = 'p@ss#w/rd:50%x';
    await fx.source.query(`CREATE USER 'weird'@'%' IDENTIFIED BY '${pw}'`);
    const encoded = fx.source.url({ user: 'weird', password: pw });
    expect(encoded).toContain(encodeURIComponent(pw));
    const i = readInputs('verify', (n) => ({ 'source-url': encoded, 'target-url': fx.target.url() })[n]);
    const c = await connectMy(i.sourceUrl!, { input: 'source-url' });
    try {
      const [r] = await c.query('SELECT CURRENT_USER() AS u');
      expect((r as { u: string }[])[0].u).toBe('weird@%');
    } finally {
      await c.end();
    }
  }, 60_000);

  it('printed no password', () => {
    const text = logged.join('\n');
    for (const s of [fx.source.password, fx.replicationPassword]) expect(text).not.toContain(s);
  });
});
