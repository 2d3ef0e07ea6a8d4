import { writeFileSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pgConnection } from '../../src/engines/postgres/tls.js';
import { myTls, toolTlsArgs } from '../../src/engines/mysql/tls.js';
import { LocalHost } from '../../src/hosts/local.js';
import { readInputs, secretValues } from '../../src/inputs.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-tls-unit-'));
const caFile = path.join(dir, 'ca.pem');
writeFileSync(caFile, PEM);

describe('PostgreSQL sslmode, libpq semantics through pg-connection-string', () => {
  const pgc = (q: string) => pgConnection(new URL(`postgres://u:p%40ss@db.example:6432/app${q}`), 'source-url');
  it('defaults to prefer: TLS without checks, then plaintext', () => {
    const c = pgc('');
    expect(c).toMatchObject({ host: 'db.example', port: 6432, user: 'u', password: 'p@ss', database: 'app', mode: 'prefer', verified: false });
    expect(c.attempts).toEqual([{ rejectUnauthorized: false }, false]);
  });
  it('allow is plaintext first, disable only plaintext', () => {
    expect(pgc('?sslmode=allow').attempts).toEqual([false, { rejectUnauthorized: false }]);
    expect(pgc('?sslmode=disable').attempts).toEqual([false]);
  });
  it('require encrypts without checks; with a root certificate it checks the CA', () => {
    expect(pgc('?sslmode=require').attempts).toEqual([{ rejectUnauthorized: false }]);
    const c = pgc(`?sslmode=require&sslrootcert=${caFile}`);
    expect(c.verified).toBe(true);
    expect(c.hostChecked).toBe(false);
  });
  it('verify-ca checks the chain but not the host name; verify-full checks both', () => {
    const ca = pgc(`?sslmode=verify-ca&sslrootcert=${encodeURIComponent(PEM)}`);
    const ssl = ca.attempts[0] as { ca: string; checkServerIdentity: () => undefined; rejectUnauthorized?: boolean };
    expect(ssl.ca).toBe(PEM);
    expect(ssl.rejectUnauthorized).not.toBe(false);
    expect(ssl.checkServerIdentity()).toBeUndefined();
    expect(ca.hostChecked).toBe(false);
    const full = pgc(`?sslmode=verify-full&sslrootcert=${caFile}`);
    expect(full.attempts[0]).toEqual({ ca: PEM });
    expect(full.hostChecked).toBe(true);
  });
  it('refuses verify-ca without a CA, naming the input to set', () => {
    expect(() => pgc('?sslmode=verify-ca')).toThrow(/source-ssl-ca/);
  });
  it('refuses an unknown sslmode and a missing certificate file', () => {
    expect(() => pgc('?sslmode=verify')).toThrow(/not a libpq sslmode/);
    expect(() => pgc('?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')).toThrow(/source-url \(sslrootcert, or source-ssl-ca\): cannot read the file/);
  });
});

describe('MySQL ssl-mode', () => {
  const my = (q: string) => myTls(new URL(`mysql://root:x@db.example:3306/${q}`), 'target-url');
  it('defaults to PREFERRED, and to VERIFY_CA when a CA is given', () => {
    expect(my('').attempts).toEqual([{ rejectUnauthorized: false, verifyIdentity: false }, undefined]);
    const c = my(`?ssl-ca=${caFile}`);
    expect(c.mode).toBe('VERIFY_CA');
    expect(c.attempts).toEqual([{ ca: PEM, rejectUnauthorized: true, verifyIdentity: false }]);
  });
  it('VERIFY_IDENTITY checks the host name; DISABLED is plaintext', () => {
    expect(my(`?ssl-mode=verify_identity&ssl-ca=${caFile}`).attempts).toEqual([{ ca: PEM, rejectUnauthorized: true, verifyIdentity: true }]);
    expect(my('?ssl-mode=DISABLED').attempts).toEqual([undefined]);
  });
  it('refuses VERIFY_CA without a CA and unknown modes', () => {
    expect(() => my('?ssl-mode=VERIFY_CA')).toThrow(/target-ssl-ca/);
    expect(() => my('?ssl-mode=ON')).toThrow(/not an ssl-mode/);
  });
  it('gives the tools the same TLS, certificates as files on the host they run on', async () => {
    const url = new URL(`mysql://root:x@db.example/?ssl-mode=VERIFY_IDENTITY&ssl-ca=${encodeURIComponent(PEM)}`);
    const host = new LocalHost();
    const { args, files } = await toolTlsArgs(host, url, 'target-url', 'mariadb');
    expect(args.slice(0, 2)).toEqual(['--ssl', '--ssl-verify-server-cert']);
    expect(args[2]).toBe(`--ssl-ca=${files[0]}`);
    expect(await host.readFile(files[0])).toBe(PEM);
    expect((await toolTlsArgs(host, url, 'target-url', 'mydumper')).args).toEqual(['--ssl', expect.stringMatching(/^--ca=\/tmp\/.*\.pem$/)]);
    for (const f of files) await host.remove(f);
  });
});

describe('ssl inputs per side', () => {
  it('become the URL parameters of their side', () => {
    const raw: Record<string, string> = {
      'source-url': 'postgres://a:b@src:5432/postgres',
      'target-url': 'postgres://a:b@tgt:5432/postgres?sslmode=verify-full',
      'source-ssl-ca': caFile,
      'target-ssl-ca': PEM,
    };
    const i = readInputs('verify', (n) => raw[n]);
    expect(i.sourceUrl!.searchParams.get('sslrootcert')).toBe(caFile);
    expect(i.targetUrl.searchParams.get('sslrootcert')).toBe(PEM.trim());
    const m = readInputs('verify', (n) => ({ ...raw, 'source-url': 'mysql://a:b@src/', 'target-url': 'mysql://a:b@tgt/' })[n]);
    expect(m.sourceUrl!.searchParams.get('ssl-ca')).toBe(caFile);
  });
});

describe('a password that needs percent-encoding', () => {
  const raw = (url: string) => (n: string) => ({ 'target-url': url })[n];
  it('gets one error naming the characters and an example, not a DNS error', () => {
    for (const [url, chars] of [
      ['postgres://weird:Pw@x#y/z9@host/db', '"#", "/"'],
      ['postgres://u:a/b@db1:5432/postgres', '"/"'],
      ['postgres://u:a?b@db1:5432/postgres', '"\\?"'],
      ['mysql://u:50%off@db1/', '"%"'],
    ] as const) {
      expect(() => readInputs('tune-target', raw(url))).toThrow(
        new RegExp(
          `^input target-url has a password \\(or user name\\) holding ${chars}, .*Percent-encode the password: @ as %40, # as %23, / as %2F, : as %3A, % as %25`,
        ),
      );
    }
  });
  it('leaves alone an @ in a query value and a password the parser reads right', () => {
    expect(readInputs('tune-target', raw('postgres://u:p@ss@db1:5432/app?application_name=a@b')).targetUrl.hostname).toBe('db1');
    expect(readInputs('tune-target', raw('postgres://u:p%40%23%2F%3A%25@db1/app')).targetUrl.password).toBe('p%40%23%2F%3A%25');
  });
  it('masks the whole password, never a fragment of it', () => {
    const secrets = secretValues('tune-target', raw('postgres://weird:Pw@x#y/z9@host/db'));
    expect(secrets).toContain('Pw@x#y/z9');
    expect(secrets).not.toContain('Pw');
  });
});
