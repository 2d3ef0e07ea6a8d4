/**
 * HAProxy's runtime API as cutover drives it, on a real HAProxy (Debian's 2.6) in front of real
 * MariaDB servers: preflight's rows (reachable at admin level, the server exists, an unreachable
 * one fails with its fix), and the repoint: new connections reach the new server, sessions on the
 * old one are shut down.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInputs } from '../../src/inputs.js';
import { Haproxy } from '../../src/poolers/haproxy.js';
import { poolerChecks } from '../../src/poolers/index.js';
import { startHaproxy, type HaproxySandbox } from '../../src/sandbox/haproxy.js';
import { freePort } from '../../src/sandbox/util.js';
import { useMariadb } from '../harness/index.js';

// One root password on both, as after a copy: the client logs in again on the new server.
const password = randomBytes(12).toString('hex');
const oldServer = useMariadb({ name: 'old', password });
const newServer = useMariadb({ name: 'new', password });
let proxy: HaproxySandbox;

beforeAll(async () => {
  proxy = await startHaproxy({ host: '127.0.0.1', port: oldServer().port });
}, 60_000);
afterAll(async () => {
  await proxy?.destroy();
}, 30_000);

const inputs = (urls: string, server = 'primary') =>
  readInputs(
    'cutover',
    (n) =>
      ({
        'source-url': oldServer().url(),
        'target-url': newServer().url(),
        pooler: 'haproxy',
        'pooler-admin-urls': urls,
        'pooler-backend': 'db',
        'pooler-server': server,
      })[n],
  );

async function serverPort(): Promise<{ port: number; conn: mysql.Connection }> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: proxy.port, user: 'root', password, connectTimeout: 3000 });
  conn.on('error', () => undefined);
  const [rows] = await conn.query('SELECT @@port AS port');
  return { port: Number((rows as { port: number }[])[0].port), conn };
}

describe('HAProxy runtime API', () => {
  it('preflight: the reachable HAProxy and its server pass; a missing server and an unreachable HAProxy fail with the fix', async () => {
    const ok = await poolerChecks(inputs(proxy.adminUrl));
    expect(ok.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(ok[1].detail).toBe(`points at 127.0.0.1:${oldServer().port}`);
    const missing = await poolerChecks(inputs(proxy.adminUrl, 'nope'));
    expect(missing[1]).toMatchObject({ status: 'fail', detail: expect.stringMatching(/no server nope in backend db: set pooler-backend and pooler-server/) });
    const dead = await poolerChecks(inputs(`tcp://127.0.0.1:${await freePort()}`));
    expect(dead[0]).toMatchObject({ status: 'fail', detail: expect.stringMatching(/cannot use its runtime API: .*ECONNREFUSED.*Check pooler-admin-urls/) });
  });

  it('repoint sends new connections to the new server and shuts down the sessions on the old one', async () => {
    const before = await serverPort();
    expect(before.port).toBe(oldServer().port);
    const h = new Haproxy({ adminUrl: proxy.adminUrl, backend: proxy.backend, server: proxy.server });
    expect(await h.repoint({ host: 'localhost', port: newServer().port })).toMatch(
      /db\/primary now points at 127\.0\.0\.1:\d+; its sessions to the old source were shut down/,
    );
    // The session opened before the switch was cut: its next query fails, the client must reconnect.
    await expect(before.conn.query('SELECT 1')).rejects.toThrow();
    before.conn.destroy();
    const after = await serverPort();
    expect(after.port).toBe(newServer().port);
    await after.conn.end();
  });
});
