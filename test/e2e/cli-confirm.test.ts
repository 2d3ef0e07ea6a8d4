/**
 * `zdm cutover` on a terminal (a pseudo-terminal from util-linux `script`): it asks for the
 * database's name before anything is changed; a wrong name refuses, the right one goes on (here to
 * servers that do not exist, so the step fails after the gate, with the confirmation recorded).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const hasScript = spawnSync('script', ['--version']).status === 0;

function onTerminal(typed: string, stateDir: string): { out: string; code: number | null } {
  const cmd = `${process.execPath} ${path.resolve('dist/index.js')} cutover --fence read-only`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    input: `${typed}\n`,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      ZDM_STATE_DIR: stateDir,
      ZDM_SOURCE_URL: 'postgres://app:pw-not-real-1@127.0.0.1:9/shop',
      ZDM_TARGET_URL: 'postgres://app:pw-not-real-1@127.0.0.1:10/shop',
    },
  });
  return { out: r.stdout + r.stderr, code: r.status };
}

describe.skipIf(!hasScript)('zdm cutover asks to type the database name on a terminal', () => {
  it('refuses a wrong name, and records the right one as the confirmation', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-confirm-'));
    const wrong = onTerminal('shopp', dir);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(/Type the database name \(shop\) to go on:/);
    expect(wrong.out).toMatch(/cutover not confirmed: you typed "shopp", not "shop"\. Nothing was changed\./);
    const right = onTerminal('shop', dir);
    expect(right.out).not.toMatch(/not confirmed/);
    const rec = JSON.parse(
      readFileSync(
        path.join(
          dir,
          readdirSync(dir).find((f) => /^127\.0\.0\.1-10\.json$/.test(f))!,
        ),
        'utf8',
      ),
    ) as {
      extra?: { approval?: { cutover?: { how: string; database: string } } };
    };
    expect(rec.extra?.approval?.cutover).toMatchObject({ how: 'typed', database: 'shop' });
  }, 120_000);
});
