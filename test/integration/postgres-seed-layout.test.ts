/**
 * seed-replica on a target laid out like plain initdb (RHEL, Docker): postgresql.conf and
 * pg_hba.conf inside the data directory, the port in postgresql.conf, a start command that names
 * no port. The copy brings the source's files; the target must keep its own. And a target that
 * cannot start after the copy: the server's own log lines in the message, the target put back
 * as it was and running, the slot dropped, the passfile gone.
 */
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { passfilePath } from '../../src/engines/postgres/conninfo.js';

let pair: PgPair;
let startCommand = '';
const TARGET_HBA_MARK = "# the target's own pg_hba.conf";

beforeAll(async () => {
  pair = await startPgPair();
  // Plain initdb: the port and socket directory in each server's own postgresql.conf.
  for (const sb of [pair.source, pair.target])
    await fs.appendFile(path.join(sb.dataDir, 'postgresql.conf'), `port = ${sb.port}\nunix_socket_directories = '${sb.baseDir}/sock'\n`);
  await fs.appendFile(path.join(pair.target.dataDir, 'pg_hba.conf'), `${TARGET_HBA_MARK}\n`);
  // The target is started the way such a host starts it: pg_ctl -D, no port on the command line.
  startCommand = pair.target.startCommand.replace(/ -o '[^']*'/, '');
  expect(startCommand).not.toContain(String(pair.target.port));
  await pair.target.stop();
  await fs.writeFile(pair.target.logFile, '');
  execSync(startCommand, { stdio: 'ignore' });
}, 120_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

const inputs = (over: Record<string, string> = {}): Record<string, string> => ({
  'source-url': pair.source.url(),
  'target-url': pair.target.url(),
  'replication-user': pair.replicationUser,
  'replication-password': pair.replicationPassword,
  'target-data-dir': pair.target.dataDir,
  'target-start-command': startCommand,
  'target-stop-command': pair.target.stopCommand,
  ...over,
});

async function seed(over: Record<string, string> = {}): Promise<{ error?: string; log: string }> {
  const lines: string[] = [];
  const raw = inputs(over);
  try {
    await runStep('seed-replica', (n) => raw[n], new TextLog((l) => lines.push(l)));
    return { log: lines.join('\n') };
  } catch (e) {
    return { error: describeError(e), log: lines.join('\n') };
  }
}

const conf = (file: string) => readFileSync(path.join(pair.target.dataDir, file), 'utf8');
const slots = async () =>
  (await pair.source.query<{ slot_name: string; active: boolean }>('SELECT slot_name, active FROM pg_replication_slots')).map((r) => r.slot_name);
const leftBeside = () => readdirSync(path.dirname(pair.target.dataDir)).filter((n) => /\.zdm-(old|new)-/.test(n));

describe('seed-replica on a target whose configuration lives in its data directory', () => {
  it('a target that cannot start on the copy: the log says why, the target is put back and running, slot and passfile gone', async () => {
    await pair.target.query('CREATE TABLE before_seed (id int)');
    const [ownConf, ownHba] = [conf('postgresql.conf'), conf('pg_hba.conf')];
    // The source preloads a library the target host does not have: the copy brings it in postgresql.auto.conf.
    await pair.source.query("ALTER SYSTEM SET shared_preload_libraries = 'zdm_no_such_library'");
    let r: Awaited<ReturnType<typeof seed>>;
    try {
      r = await seed();
    } finally {
      await pair.source.query('ALTER SYSTEM RESET shared_preload_libraries');
    }
    expect(r.error).toMatch(/^target-start-command failed \(exit 1\): .*could not start server/);
    expect(r.error).toContain(`The server's log: ${pair.target.logFile}: `);
    expect(r.error).toMatch(/FATAL: {2}could not access file "zdm_no_such_library": No such file or directory/);
    expect(r.error).toContain(
      `The target was put back as it was: its data directory is back in place, replication slot zdm_replica dropped on the source, it runs again.`,
    );
    // As it was: running on its own port as a primary, with its own table and configuration.
    expect(await pair.target.isRunning()).toBe(true);
    const [{ rec }] = await pair.target.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec');
    expect(rec).toBe(false);
    expect(await pair.target.query("SELECT 1 FROM pg_tables WHERE tablename = 'before_seed'")).toHaveLength(1);
    expect([conf('postgresql.conf'), conf('pg_hba.conf')]).toEqual([ownConf, ownHba]);
    expect(leftBeside()).toEqual([]);
    expect(existsSync(passfilePath(pair.target.dataDir))).toBe(false);
    expect(await slots()).toEqual([]);
    await pair.target.query('DROP TABLE before_seed');
  }, 180_000);

  it("a start command without pg_ctl -l: the server's words come from what the command printed", async () => {
    await pair.source.query("ALTER SYSTEM SET shared_preload_libraries = 'zdm_no_such_library'");
    let r: Awaited<ReturnType<typeof seed>>;
    // Without -l the server's output goes to the command's own stdout. Only for the standby start:
    // a server that does start would hold that pipe open, so the restart of the target as it was logs to its file.
    const printing = `if [ -f ${pair.target.dataDir}/standby.signal ]; then ${startCommand.replace(/ -l '[^']*'/, '')}; else ${startCommand}; fi`;
    try {
      r = await seed({ 'target-start-command': printing });
    } finally {
      await pair.source.query('ALTER SYSTEM RESET shared_preload_libraries');
    }
    expect(r.error).toMatch(
      /^target-start-command failed \(exit 1\): pg_ctl: could not start server \| Examine the log output\. It printed: .*FATAL: {2}could not access file "zdm_no_such_library"/,
    );
    // The log file got nothing of this start: the target's own shutdown before it is not shown.
    expect(r.error).not.toContain("The server's log");
    expect(r.error).toContain('The target was put back as it was');
    expect(await pair.target.isRunning()).toBe(true);
    expect(await slots()).toEqual([]);
  }, 180_000);

  it("keeps the target's own postgresql.conf and pg_hba.conf (port, hba) across the copy and streams", async () => {
    const [ownConf, ownHba] = [conf('postgresql.conf'), conf('pg_hba.conf')];
    expect(ownConf).toContain(`port = ${pair.target.port}`);
    const r = await seed();
    expect(r.error).toBeUndefined();
    expect(r.log).toContain("kept the target's own postgresql.conf, pg_hba.conf");
    expect(conf('postgresql.conf')).toBe(ownConf);
    expect(conf('pg_hba.conf')).toBe(ownHba);
    expect(conf('pg_hba.conf')).toContain(TARGET_HBA_MARK);
    expect(conf('postgresql.auto.conf')).toMatch(/^primary_conninfo = /m);
    const [{ rec, port }] = await pair.target.query<{ rec: boolean; port: string }>("SELECT pg_is_in_recovery() AS rec, current_setting('port') AS port");
    expect([rec, Number(port)]).toEqual([true, pair.target.port]);
    const [{ status }] = await pair.target.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
    expect(status).toBe('streaming');
    expect(leftBeside()).toEqual([]);
  }, 180_000);
});
