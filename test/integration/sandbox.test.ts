/** The harness itself: real servers start fast on loopback, obey their start/stop commands, and are removed. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { startPostgres } from '../../src/sandbox/postgres.js';
import { sh } from '../../src/sandbox/util.js';
import { useMariadb, usePostgres, useSshd } from '../harness/index.js';

const pg = usePostgres({ name: 'harness' });
const maria = useMariadb({ name: 'harness' });
const ssh = useSshd();

describe('test harness', () => {
  it('PostgreSQL 15 answers on loopback, stops and starts with its commands', async () => {
    const [{ v }] = await pg().query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    expect(Number(v)).toBeGreaterThanOrEqual(150000);
    await sh(pg().stopCommand);
    expect(await pg().isRunning()).toBe(false);
    await sh(pg().startCommand);
    expect(await pg().isRunning()).toBe(true);
    expect(pg().url()).toMatch(/^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/postgres$/);
  });

  it('a second PostgreSQL starts from the template well under a few seconds, and destroy removes it', async () => {
    const t0 = Date.now();
    const other = await startPostgres({ name: 'quick' });
    const ms = Date.now() - t0;
    console.log(`PostgreSQL sandbox started in ${ms} ms`);
    expect(ms).toBeLessThan(10_000);
    await other.destroy();
    expect(existsSync(other.baseDir)).toBe(false);
  });

  it('an embedded PostgreSQL 17 starts when installed', async (ctx) => {
    if (!existsSync('node_modules/embedded-pg-17/native/bin/pg_ctl')) ctx.skip();
    const p17 = await startPostgres({ major: 17, name: 'pg17' });
    try {
      const [{ v }] = await p17.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
      expect(Number(v)).toBeGreaterThanOrEqual(170000);
    } finally {
      await p17.destroy();
    }
  });

  it('MariaDB has the binlog on in ROW format and takes its password over TCP', async () => {
    const [r] = await maria().query<{ lb: number; fmt: string }>('SELECT @@log_bin AS lb, @@binlog_format AS fmt');
    expect(Number(r.lb)).toBe(1);
    expect(r.fmt).toBe('ROW');
  });

  it('sshd accepts the client key and presents the pinned host key', async () => {
    const s = ssh();
    let seen = '';
    const out = await new Promise<string>((resolve, reject) => {
      const c = new Client();
      c.on('ready', () => {
        c.exec('echo ok', (err, stream) => {
          if (err) return reject(err);
          let text = '';
          stream.on('data', (d: Buffer) => (text += d.toString()));
          stream.on('close', () => {
            c.end();
            resolve(text.trim());
          });
        });
      });
      c.on('error', reject);
      c.connect({
        host: s.host,
        port: s.port,
        username: s.user,
        privateKey: s.privateKey,
        hostVerifier: (key: Buffer) => {
          seen = 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
          return seen === s.hostKeyFingerprint;
        },
      });
    });
    expect(out).toBe('ok');
    expect(seen).toBe(s.hostKeyFingerprint);
  });
});
