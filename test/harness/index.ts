/**
 * Test helpers that start real servers for a test file and remove them afterwards, even when a
 * test fails (afterAll) or the run is interrupted (the sandbox registry's exit and signal handlers).
 *
 *   const pg = usePostgres({ name: 'source' });
 *   it('...', async () => { await pg().query('SELECT 1'); });
 */
import { afterAll, beforeAll } from 'vitest';
import {
  mysqlRoot,
  MYSQL_MISSING,
  startMariadb,
  startMysql,
  startPostgres,
  startSshd,
  type MariadbSandbox,
  type MariadbSandboxOptions,
  type MysqlSandbox,
  type MysqlSandboxOptions,
  type PostgresSandbox,
  type PostgresSandboxOptions,
  type SshdSandbox,
} from '../../src/sandbox/index.js';

function useServer<T extends { destroy(): Promise<void> }>(start: () => Promise<T>): () => T {
  let server: T | undefined;
  beforeAll(async () => {
    server = await start();
  }, 180_000);
  afterAll(async () => {
    await server?.destroy();
  }, 60_000);
  return () => {
    if (!server) throw new Error('the server is not started yet: use it inside a test or a beforeAll that comes after this call');
    return server;
  };
}

export const usePostgres = (opts?: PostgresSandboxOptions): (() => PostgresSandbox) => useServer(() => startPostgres(opts));
export const useMariadb = (opts?: MariadbSandboxOptions): (() => MariadbSandbox) => useServer(() => startMariadb(opts));
export const useMysql = (opts?: MysqlSandboxOptions): (() => MysqlSandbox) => useServer(() => startMysql(opts));
/**
 * Whether MySQL tests run: they need scripts/install-mysql.sh to have extracted MySQL. Outside CI a
 * file is skipped without it (with this message); in CI (CI set) it runs, and fails, without it.
 */
export const mysqlMissing: string | undefined = mysqlRoot() || process.env.CI ? undefined : MYSQL_MISSING;
export const useSshd = (opts?: { name?: string }): (() => SshdSandbox) => useServer(() => startSshd(opts));
