/** MariaDB method logical (mydumper/myloader) and method auto, on real servers. */
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { WriteLoad } from '../../src/rehearse/writer.js';

let fx: MariadbFixture;
let elsewhere: string;

beforeAll(async () => {
  fx = await MariadbFixture.start();
  await fx.loadSampleData(2);
  elsewhere = await mkdtemp(path.join(tmpdir(), 'zdm-not-a-datadir-'));
  for (const sql of [
    'CREATE TABLE appdb.legacy (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MyISAM',
    "INSERT INTO appdb.legacy VALUES (1, 'old'), (2, 'older')",
    "CREATE USER 'reporter'@'10.0.0.%' IDENTIFIED BY 'rep0rter-pw'",
    "GRANT SELECT ON appdb.sample TO 'reporter'@'10.0.0.%'",
    'CREATE ROLE auditor',
    'GRANT SELECT ON appdb.* TO auditor',
    "GRANT auditor TO 'reporter'@'10.0.0.%'",
  ])
    await fx.source.query(sql);
}, 120_000);

afterAll(async () => {
  await fx?.destroy();
  if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
}, 60_000);

const logged: string[] = [];
const log = new TextLog((line) => {
  logged.push(line);
  if (process.env.ZDM_TEST_LOG) process.stderr.write(line + '\n');
});
const run = (step: 'seed-replica' | 'await-lag-zero' | 'verify', raw: Record<string, string>) => runStep(step, (n) => raw[n], log);
const seedInputs = (over: Record<string, string> = {}) => ({ ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['seed-replica'], ...over });
/** What a user with only a database login on the target gives: no target-data-dir. */
const withoutDataDir = (raw: Record<string, string>) => Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'target-data-dir'));

async function refusal(over: Record<string, string>, edit = (raw: Record<string, string>) => raw): Promise<string> {
  let message = '';
  await run('seed-replica', edit(seedInputs(over))).then(
    () => {
      throw new Error('seed-replica succeeded but should have refused');
    },
    (e: unknown) => (message = describeError(e)),
  );
  return message;
}

async function withGlobal(name: string, value: string, fn: () => Promise<void>): Promise<void> {
  const [{ v }] = await fx.source.query<{ v: string }>(`SELECT @@GLOBAL.${name} AS v`);
  await fx.source.query(`SET GLOBAL ${name} = ${value}`);
  try {
    await fn();
  } finally {
    await fx.source.query(`SET GLOBAL ${name} = ${/^\d+$/.test(String(v)) ? v : `'${v}'`}`);
  }
}

describe('logical seed refusals, nothing changed', () => {
  it('binlog retention shorter than the copy needs: refused, with the setting that fixes it', async () => {
    await withGlobal('binlog_expire_logs_seconds', '600', async () => {
      const m = await refusal({ method: 'logical' });
      expect(m).toMatch(
        /source binlog retention: binlog_expire_logs_seconds = 600 keeps binlogs 10 min 0 s, but the logical copy of .* takes about .*: the replica would find its starting binlog purged\. Keep them at least .*: SET GLOBAL binlog_expire_logs_seconds = \d+/,
      );
    });
  });

  it('a binlog not in ROW format: refused for the logical copy', async () => {
    await withGlobal('binlog_format', "'MIXED'", async () => {
      const m = await refusal({ method: 'logical' });
      expect(m).toContain('source binlog_format: binlog_format is MIXED: set binlog_format = ROW on the source');
    });
  });

  it('binlog_row_image MINIMAL: refused for the logical copy', async () => {
    await withGlobal('binlog_row_image', "'MINIMAL'", async () => {
      const m = await refusal({ method: 'logical' });
      expect(m).toContain('source binlog_row_image: binlog_row_image is MINIMAL: the logical copy needs full row images');
      expect(m).toContain("SET GLOBAL binlog_row_image = 'FULL'");
    });
  });

  it('a source account without what mydumper needs: the privileges listed for each method', async () => {
    await fx.source.query("CREATE USER IF NOT EXISTS 'weak'@'%' IDENTIFIED BY 'weakpw123'");
    await fx.source.query("GRANT SELECT ON *.* TO 'weak'@'%'");
    const m = await refusal({ method: 'logical', 'source-url': fx.source.url({ user: 'weak', password: 'weakpw123' }) });
    expect(m).toContain(
      'backup privileges (source-url): the account in source-url lacks SHOW VIEW, TRIGGER, EVENT, RELOAD or LOCK TABLES, BINLOG MONITOR or REPLICATION CLIENT, which the logical copy (mydumper) needs',
    );
    expect(m).toContain('method physical would need RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR or REPLICATION CLIENT (missing');
  });
});

describe('target-data-dir', () => {
  it("a physical seed without it: refused before the copy, naming the input and the target's datadir to give", async () => {
    const m = await refusal({ method: 'physical' }, withoutDataDir);
    expect(m).toMatch(/preflight failed, nothing was changed/);
    expect(m).toContain(
      `target-data-dir matches target: target-data-dir is empty: the physical seed (mariadb-backup) replaces the target's data directory, so give it, e.g. ${fx.target.dataDir}`,
    );
    expect(await fx.target.query('SHOW REPLICA STATUS')).toEqual([]);
  });
});

/** Runs `fn` with a PATH on which every program of /usr/bin is found except `hidden`. */
async function without(hidden: string[], fn: () => Promise<void>): Promise<void> {
  const shadow = await mkdtemp(path.join(tmpdir(), 'zdm-path-'));
  for (const f of await readdir('/usr/bin')) if (!hidden.includes(f)) await symlink(path.join('/usr/bin', f), path.join(shadow, f));
  const saved = process.env.PATH;
  process.env.PATH = `${shadow}:/usr/sbin:/sbin`;
  try {
    await fn();
  } finally {
    process.env.PATH = saved;
    await rm(shadow, { recursive: true, force: true });
  }
}

describe('without mydumper on the runner', () => {
  it('above logical-max-size the single-threaded mariadb-dump fallback is refused, naming the package', async () => {
    await without(['mydumper', 'myloader'], async () => {
      const m = await refusal({ method: 'logical', 'logical-max-size': '64kB' });
      expect(m).toMatch(
        /logical seed size: the source holds .* above logical-max-size \(64\.0 kB\): .*single-threaded without mydumper.*Install mydumper on the runner \(apt-get install mydumper\)/,
      );
    });
  });
});

describe('method auto on a source host without the backup tool', () => {
  it('chooses logical and says why (here the refusal of MINIMAL row images, a logical-only need, stops it before the copy)', async () => {
    await without(['mariadb-backup', 'mariabackup'], async () => {
      await withGlobal('binlog_row_image', "'MINIMAL'", async () => {
        logged.length = 0;
        const m = await refusal({ method: 'auto' });
        expect(m).toContain('source binlog_row_image: binlog_row_image is MINIMAL: the logical copy needs full row images');
        expect(logged.join('\n')).toContain(
          'seed method: logical: method: auto chose logical: mariadb-backup is not installed on the source host (this machine)',
        );
      });
    });
  });
});

describe('method auto with an unreadable data directory: a mydumper seed under writes', () => {
  let outputs: Record<string, string>;
  let acked: number[] = [];

  beforeAll(async () => {
    const load = new WriteLoad(fx.writeTargets().slice(0, 1), 100);
    load.start();
    try {
      // Without target-data-dir: the logical copy loads through SQL and never touches the target's data directory.
      const r = await run('seed-replica', withoutDataDir(seedInputs({ method: 'auto', 'source-data-dir': elsewhere, 'logical-max-size': '64kB' })));
      outputs = r.outputs;
    } finally {
      acked = (await load.stop()).ackedSeqs;
    }
    await run('await-lag-zero', { ...fx.stepInputs({ fence: 'auto', targetMemory: '1GB' })['await-lag-zero'], 'settle-seconds': '1' });
  }, 240_000);

  it('chose logical, said why, and gave it as the method output', () => {
    expect(outputs.method).toBe('logical');
    // No target-data-dir was given: its checks are not the logical seed's; the room for the rows is measured where the server keeps them.
    const text = logged.join('\n');
    expect(text).toMatch(/target-data-dir matches target: not needed by a logical seed/);
    expect(text).toMatch(/target-data-dir writable: not needed by a logical seed \(it loads through SQL\)/);
    expect(text).toMatch(/disk space on target: [\d.]+ [kMGT]?B free, the copy needs about/);
    expect(logged.join('\n')).toContain(
      `method: auto chose logical: the source's data directory ${elsewhere} cannot be read on the source host (this machine)`,
    );
    expect(logged.join('\n')).toMatch(
      /mydumper: \d+ threads, consistent point by FLUSH TABLES WITH READ LOCK held only while the snapshots open \(--less-locking\)/,
    );
  });

  it('named the non-InnoDB table and the oversize copy as warnings, before the copy', () => {
    const text = logged.join('\n');
    expect(text).toMatch(/non-InnoDB tables: .*appdb\.legacy \(MyISAM\): outside InnoDB's snapshot, they are copied under LOCK TABLES … READ/);
    expect(text).toMatch(/logical seed size: .*above logical-max-size \(64\.0 kB\): mydumper\/myloader will take about/);
  });

  it('replicates from the GTID of the snapshot: every acknowledged write is on the target', async () => {
    expect(outputs['seed-position']).toMatch(/^gtid:0-1-\d+$/);
    expect(acked.length).toBeGreaterThan(10);
    expect(await fx.missingOnTarget(acked)).toEqual([]);
    const [legacy] = await fx.target.query<{ n: number }>('SELECT COUNT(*) AS n FROM appdb.legacy');
    expect(Number(legacy.n)).toBe(2);
  });

  it('copied the users, roles and grants, and kept the system and local admin accounts out', async () => {
    const grants = (await fx.target.query<Record<string, string>>("SHOW GRANTS FOR 'reporter'@'10.0.0.%'")).map((r) => Object.values(r)[0]);
    expect(grants.join('\n')).toContain('GRANT SELECT ON `appdb`.`sample` TO `reporter`@`10.0.0.%`');
    expect(grants.join('\n')).toContain('GRANT `auditor` TO `reporter`@`10.0.0.%`');
    const app = (await fx.target.query<Record<string, string>>(`SHOW GRANTS FOR '${fx.appUser}'@'%'`)).map((r) => Object.values(r)[0]);
    expect(app.join('\n')).toContain('GRANT ALL PRIVILEGES ON `appdb`.* TO `app_writer`@`%`');
    const text = logged.join('\n');
    expect(text).toMatch(/accounts copied to the target: .*'reporter'@'10\.0\.0\.%'/);
    expect(text).toMatch(/accounts not copied: .*'mariadb\.sys'@'localhost' \(system account\)/);
    expect(text).not.toContain('rep0rter-pw');
  });

  it('verify strict passes on the copy once writes stop', async () => {
    const r = await run('verify', { engine: 'mariadb', 'source-url': fx.source.url(), 'target-url': fx.target.url(), 'verify-mode': 'strict' });
    expect(r.outputs.ok).toBe('true');
    expect(Number(r.outputs['rows-compared'])).toBeGreaterThan(1000);
  }, 120_000);
});
