/**
 * tune-target (dry run, then for real) and revert through dist/index.js, the way the runner runs
 * them, on a real MariaDB with a temporary sysctl root: every value back as it was.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sysctlPath } from '../../src/tuning/sysctl.js';
import { useMariadb } from '../harness/index.js';
import { expectOk, runDistStep, type DistRun } from './run-dist.js';

const my = useMariadb({ name: 'revert-e2e' });
const base = mkdtempSync(path.join(os.tmpdir(), 'zdm-revert-e2e-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const ok = (run: DistRun) => expectOk(run, [my().password]);

describe('tune-target and revert actions through dist/index.js', () => {
  it('dry run changes nothing; revert restores every value tune-target changed', async () => {
    const root = path.join(base, 'sys');
    mkdirSync(path.dirname(sysctlPath(root, 'net.core.rmem_max')), { recursive: true });
    writeFileSync(sysctlPath(root, 'net.core.rmem_max'), '212992\n');
    const dropin = path.join(base, '99-zdm-migration.conf');
    const inputs = {
      engine: 'mariadb',
      'target-url': my().url(),
      'target-config-file': my().optionFile,
      'target-memory': '1GB',
      'sysctl-root': root,
      'sysctl-dropin': dropin,
    };
    const vars = async () => JSON.stringify(await my().query('SHOW GLOBAL VARIABLES'));
    const before = await vars();

    const dry = ok(await runDistStep('tune-target', { ...inputs, 'dry-run': 'true' }));
    expect(dry.summary).toContain('zdm tune-target (dry run)');
    expect(await vars()).toBe(before);
    expect(existsSync(dropin) || existsSync(my().optionFile)).toBe(false);

    const tune = ok(await runDistStep('tune-target', inputs));
    expect(readFileSync(sysctlPath(root, 'net.core.rmem_max'), 'utf8')).toBe('16777216\n');
    expect(await vars()).not.toBe(before);

    const back = ok(await runDistStep('revert', { ...inputs, tuning: tune.outputs.tuning }));
    expect(back.outputs.reverted).toContain('net.core.rmem_max');
    expect(back.summary).toContain('zdm revert');
    expect(await vars()).toBe(before);
    expect(readFileSync(sysctlPath(root, 'net.core.rmem_max'), 'utf8')).toBe('212992\n');
    expect(existsSync(dropin) || existsSync(my().optionFile)).toBe(false);
  }, 120_000);
});
