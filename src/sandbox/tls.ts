/**
 * Test certificates made with openssl: a CA, a server certificate it signs for 127.0.0.1 and
 * localhost, and a second CA that signed nothing the servers show (for "wrong CA" cases). Made once
 * per process and cached; servers copy the certificate and key into their own directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buildOnce, CACHE_DIR, run } from './util.js';

export interface TestCerts {
  /** The CA that signed the servers' certificate. */
  caFile: string;
  caPem: string;
  /** Server certificate (SAN: IP 127.0.0.1, DNS localhost) and its key. */
  certFile: string;
  keyFile: string;
  /** A CA that did not sign the server certificate. */
  wrongCaFile: string;
}

const DIR = `${CACHE_DIR}/tls-v1`;
const DAYS = '3650';

async function openssl(args: string[], cwd: string): Promise<void> {
  await run(
    'openssl',
    args.map((a) => (a.startsWith('@') ? path.join(cwd, a.slice(1)) : a)),
  );
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', DAYS, '-subj', `/CN=${cn}`, '-keyout', `@${name}.key`, '-out', `@${name}.crt`], dir);
}

/** The harness's certificates, made on first use. */
export async function testCerts(): Promise<TestCerts> {
  await buildOnce(DIR, async (tmp) => {
    await makeCa(tmp, 'ca', 'zdm test CA');
    await makeCa(tmp, 'wrong-ca', 'zdm wrong CA');
    await fs.writeFile(
      path.join(tmp, 'server.ext'),
      'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n',
    );
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', '@server.key', '-out', '@server.csr'], tmp);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        '@server.csr',
        '-CA',
        '@ca.crt',
        '-CAkey',
        '@ca.key',
        '-CAcreateserial',
        '-days',
        DAYS,
        '-extfile',
        '@server.ext',
        '-out',
        '@server.crt',
      ],
      tmp,
    );
  });
  const f = (n: string) => path.join(DIR, n);
  if (!existsSync(f('server.crt'))) throw new Error(`test certificates missing in ${DIR}`);
  return { caFile: f('ca.crt'), caPem: readFileSync(f('ca.crt'), 'utf8'), certFile: f('server.crt'), keyFile: f('server.key'), wrongCaFile: f('wrong-ca.crt') };
}

/** Copies the server certificate, its key (0600) and the CA into `dir`: files a server reads as its own user. */
export async function installServerCerts(dir: string): Promise<{ cert: string; key: string; ca: string }> {
  const c = await testCerts();
  const out = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.crt') };
  await fs.copyFile(c.certFile, out.cert);
  await fs.copyFile(c.caFile, out.ca);
  await fs.copyFile(c.keyFile, out.key);
  await fs.chmod(out.key, 0o600);
  return out;
}
