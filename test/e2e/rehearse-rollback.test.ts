/** `zdm rehearse --rollback` from the bundle: cutover, writes on the new primary, rollback, every acknowledged write on the old source. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rehearseDist } from './run-dist.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdm-rehearse-rollback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rehearse = (args: string[]) => rehearseDist(dir, args);

describe('zdm rehearse --rollback (dist/index.js)', () => {
  it('refuses --rollback with --ssh, saying it is not supported yet', () => {
    const r = spawnSync(process.execPath, ['dist/index.js', 'rehearse', '--rollback', '--ssh'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr + r.stdout).toContain('--rollback is not supported with --ssh yet');
  });

  for (const [engine, fence] of [
    ['postgres', 'auto'],
    ['postgres', 'read-only'],
    ['mariadb', 'auto'],
  ]) {
    it(`--engine ${engine} --fence ${fence} --rollback: writes acknowledged by both sides, none missing on the old source`, () => {
      const { out, json } = rehearse(['--engine', engine, '--fence', fence, '--rollback']);
      expect(out).toContain('OK: rolled back; every acknowledged write, including those of the new primary, is on the old source.');
      expect(json.ok).toBe(true);
      expect(json.steps.map((s: { name: string }) => s.name)).toEqual([
        'preflight',
        'tune-target',
        'seed-replica',
        'await-lag-zero',
        'cutover',
        'post-cutover',
        'rollback',
      ]);
      expect(json.outputs.cutover['reverse-replication']).toBe('running');
      expect(json.rollback.missingOnOldSource).toBe(0);
      // On production durability, the default: the way back is not measured on fsync=off servers.
      expect(json.durability.durable).toBe(true);
      expect(json.rollback.acknowledgedByNewPrimary).toBeGreaterThan(0);
      expect(json.rollback.acknowledgedByOldSourceAfter).toBeGreaterThan(0);
      expect(json.writes.acknowledged).toBe(json.writes.acknowledgedBySource + json.writes.acknowledgedByTarget);
      expect(json.rollback.writeBlockedMs).toBeGreaterThan(0);
      expect(json.rollback.fence).toBe(engine === 'postgres' && fence === 'auto' ? 'shutdown' : 'read-only');
      expect(json.cutover.fence).toBe(json.rollback.fence);
    }, 240_000);
  }
});
