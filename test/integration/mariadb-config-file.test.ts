/**
 * A MariaDB target started with --defaults-file (as the sandbox starts it) reads that file and
 * what it includes, never the default /etc/mysql tree: preflight and seed-replica prove from the
 * server's own command line that it reads target-config-file, and say how to fix it when not.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { TextLog } from '../../src/log.js';
import { MariadbFixture } from '../../src/rehearse/mariadb.js';
import { runStep } from '../../src/run-step.js';
import type { StepName } from '../../src/inputs.js';
import type { StepResult } from '../../src/steps/index.js';

let fx: MariadbFixture;
beforeAll(async () => {
  fx = await MariadbFixture.start();
}, 120_000);
afterAll(async () => {
  await fx?.destroy();
}, 60_000);

type Row = { check: string; status: string; detail: string };
const inputs = (over: Record<string, string> = {}) => ({ ...fx.stepInputs({ fence: 'auto', targetMemory: '' })['seed-replica'], ...over });

async function run(step: StepName, raw: Record<string, string>): Promise<{ result?: StepResult; error?: string; log: string }> {
  const lines: string[] = [];
  const log = new TextLog((l) => lines.push(l));
  try {
    return { result: await runStep(step, (n) => raw[n], log), log: lines.join('\n') };
  } catch (e) {
    return { result: (e as { result?: StepResult }).result, error: describeError(e), log: lines.join('\n') };
  }
}

const row = (r: { result?: StepResult }) => (JSON.parse(r.result!.outputs.checks) as Row[]).find((c) => c.check === 'target reads target-config-file');

describe('target-config-file on a MariaDB target started with --defaults-file', () => {
  const cnf = () => path.join(fx.target.baseDir, 'my.cnf');
  const confD = () => path.join(fx.target.baseDir, 'conf.d');

  it('a file in a directory its --defaults-file includes: proven read', async () => {
    const r = await run('preflight', inputs());
    expect(row(r)).toMatchObject({ status: 'ok' });
    expect(row(r)!.detail).toMatch(new RegExp(`^${fx.target.optionFile}, read by the server \\(pid \\d+\\) via ${cnf()} -> !includedir ${confD()}$`));
  });

  it('the default path, which that server never reads: preflight fails and says how to fix it', async () => {
    const r = await run('preflight', inputs({ 'target-config-file': '' }));
    expect(r.error).toMatch(/^preflight failed, nothing was changed/);
    expect(row(r)).toMatchObject({ status: 'fail' });
    expect(row(r)!.detail).toMatch(
      new RegExp(
        `^the server \\(pid \\d+, started with --defaults-file=${cnf()}\\) never reads /etc/mysql/mariadb\\.conf\\.d/99-zdm-migration\\.cnf: .*lost at its next restart\\. ` +
          `Set target-config-file to a \\.cnf file in a directory it includes, e\\.g\\. ${confD()}/99-zdm-migration\\.cnf, or add "!include /etc/mysql/mariadb\\.conf\\.d/99-zdm-migration\\.cnf" to ${cnf()}\\.$`,
      ),
    );
  });

  it('a file in the included directory that does not end in .cnf is not read either', async () => {
    const r = await run('preflight', inputs({ 'target-config-file': path.join(confD(), 'zdm.conf') }));
    expect(row(r)).toMatchObject({ status: 'fail' });
  });

  it('tune-target refuses to write a file the server never reads, changing nothing', async () => {
    const raw = { ...inputs({ 'target-config-file': '' }), 'target-memory': '1GB', 'kernel-tuning': 'off' };
    const before = await fx.target.query('SHOW GLOBAL VARIABLES');
    const r = await run('tune-target', raw);
    expect(r.error).toMatch(
      /^input target-config-file names a file the server does not read: the server \(pid \d+, started with --defaults-file=.*\) never reads \/etc\/mysql\/mariadb\.conf\.d\/99-zdm-migration\.cnf: .* Nothing was changed\.$/,
    );
    expect(await fx.target.query('SHOW GLOBAL VARIABLES')).toEqual(before);
  });

  it("seed-replica given tune-target's plan refuses before changing anything; without one it warns", async () => {
    const plan = {
      engine: 'mariadb',
      memoryBytes: 1,
      cpus: 1,
      items: [{ name: 'innodb_io_capacity', original: '200', value: '2000', reason: 'r', applies: 'reload', relaxesDurability: false, revertAtCutover: false }],
    };
    const refused = await run('seed-replica', inputs({ 'target-config-file': '', tuning: JSON.stringify(plan) }));
    expect(refused.error).toMatch(
      /^preflight failed, nothing was changed:\n- target reads target-config-file: the server \(pid \d+, started with --defaults-file=/,
    );
    expect(await fx.target.isRunning()).toBe(true);
    // Without a plan zdm writes nothing there: a warning, and the seed goes on (here it fails later, on purpose: a wrong replication password).
    const warned = await run('seed-replica', inputs({ 'target-config-file': '', 'replication-password': 'wrong-on-purpose' }));
    expect(warned.error).toMatch(/^preflight failed, nothing was changed:\n- replication user: /);
    expect(warned.error).not.toContain('target reads target-config-file');
    expect(warned.log).toMatch(/WARN target reads target-config-file: the server \(pid \d+, started with --defaults-file=.*\) never reads /);
  });
});
