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
  startWan,
  type MariadbSandbox,
  type MariadbSandboxOptions,
  type MysqlSandbox,
  type MysqlSandboxOptions,
  type PostgresSandbox,
  type PostgresSandboxOptions,
  type SshdSandbox,
  type SshdSandboxOptions,
  type WanBed,
  type WanOptions,
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

/** Options now, or a function called at start (for what exists only then, such as a test bed's `netns`). */
type Later<T> = T | (() => T);
const now = <T>(o: Later<T> | undefined): T | undefined => (typeof o === 'function' ? (o as () => T)() : o);

export const usePostgres = (opts?: Later<PostgresSandboxOptions>): (() => PostgresSandbox) => useServer(() => startPostgres(now(opts)));
export const useMariadb = (opts?: Later<MariadbSandboxOptions>): (() => MariadbSandbox) => useServer(() => startMariadb(now(opts)));
export const useMysql = (opts?: Later<MysqlSandboxOptions>): (() => MysqlSandbox) => useServer(() => startMysql(now(opts)));
/**
 * Whether MySQL tests run: they need scripts/install-mysql.sh to have extracted MySQL. Outside CI a
 * file is skipped without it (with this message); in CI (CI set) it runs, and fails, without it.
 */
export const mysqlMissing: string | undefined = mysqlRoot() || process.env.CI ? undefined : MYSQL_MISSING;
export const useSshd = (opts?: Later<SshdSandboxOptions>): (() => SshdSandbox) => useServer(() => startSshd(now(opts)));
/**
 * A WAN test bed (src/sandbox/wan.ts) for the file: declare it before the servers that go behind it.
 *   const wan = useWan({ rttMs: 30, bandwidthMbit: 100 });
 *   const source = usePostgres(() => ({ name: 'source', netns: wan().placement }));
 */
export const useWan = (opts: WanOptions): (() => WanBed) => useServer(() => startWan(opts));
