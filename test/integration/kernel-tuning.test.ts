/**
 * The kernel plan on real files: a temporary sysctl root stands in for /proc/sys, so that the
 * round trip (plan, apply, revert) is checked byte for byte without a writable /proc/sys. One
 * test uses the real /proc/sys, only where this machine lets it be written, and puts every
 * value back whatever happens.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, statSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHost } from '../../src/hosts/local.js';
import { TextLog } from '../../src/log.js';
import { KernelTuner } from '../../src/tuning/kernel-tuner.js';
import { KERNEL_KEYS, sysctlPath } from '../../src/tuning/sysctl.js';
import { describeError } from '../../src/errors.js';
import { UnprivilegedHost } from '../harness/unprivileged-host.js';
import { snapshot } from '../harness/snapshot.js';

const DEBIAN: Record<string, string> = {
  'net.core.rmem_max': '212992\n',
  'net.core.wmem_max': '212992\n',
  'net.ipv4.tcp_rmem': '4096\t131072\t6291456\n',
  'net.ipv4.tcp_wmem': '4096\t16384\t4194304\n',
  'net.ipv4.tcp_syncookies': '1\n',
  'net.ipv4.tcp_tw_reuse': '2\n',
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake /proc/sys plus an /etc/sysctl.d, in a temporary directory. */
function fakeRoot(values = DEBIAN): { root: string; dropin: string; base: string } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'zdm-sysctl-'));
  dirs.push(base);
  const root = path.join(base, 'proc-sys');
  for (const [k, v] of Object.entries(values)) {
    const p = sysctlPath(root, k);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, v);
  }
  mkdirSync(path.join(base, 'sysctl.d'));
  return { root, dropin: path.join(base, 'sysctl.d', '99-zdm-migration.conf'), base };
}

function logs(): { log: TextLog; lines: string[] } {
  const lines: string[] = [];
  return { log: new TextLog((l) => lines.push(l)), lines };
}

describe('kernel plan, apply and revert on a temporary sysctl root', () => {
  it('applies the changed values live and in a drop-in, and revert restores every file byte for byte, twice', async () => {
    const { root, dropin, base } = fakeRoot();
    const before = snapshot(base);
    const { log } = logs();
    const tuner = new KernelTuner(new LocalHost(), log, 'best-effort');
    const plan = await tuner.inspect(root, dropin);
    expect(plan.dropinOriginal).toBeNull();
    const applied = await tuner.apply(plan);
    expect(applied.notApplied).toBeUndefined();
    expect(readFileSync(sysctlPath(root, 'net.core.rmem_max'), 'utf8')).toBe('16777216\n');
    expect(readFileSync(sysctlPath(root, 'net.ipv4.tcp_rmem'), 'utf8')).toBe('4096 131072 16777216\n');
    expect(readFileSync(sysctlPath(root, 'net.ipv4.tcp_syncookies'), 'utf8')).toBe('1\n');
    expect(applied.items.filter((i) => i.applied).map((i) => i.key)).toEqual(KERNEL_KEYS.filter((k) => k !== 'net.ipv4.tcp_syncookies'));
    const dropinText = readFileSync(dropin, 'utf8');
    expect(dropinText).toContain('net.core.wmem_max = 16777216\n');
    expect(dropinText).toContain('net.ipv4.tcp_tw_reuse = 1\n');
    expect((statSync(dropin).mode & 0o777).toString(8)).toBe('644');

    // What travels between jobs is JSON: revert from the parsed copy.
    const carried = JSON.parse(JSON.stringify(applied));
    const restored = await tuner.revert(carried);
    expect(restored).toContain(dropin);
    expect(snapshot(base)).toEqual(before);
    await tuner.revert(carried);
    expect(snapshot(base)).toEqual(before);
  });

  it('restores a drop-in that was there before as it was', async () => {
    const { root, dropin, base } = fakeRoot();
    writeFileSync(dropin, '# someone else\nnet.core.somaxconn = 4096\n');
    const before = snapshot(base);
    const tuner = new KernelTuner(new LocalHost(), logs().log, 'best-effort');
    const applied = await tuner.apply(await tuner.inspect(root, dropin));
    expect(applied.dropinOriginal).toBe('# someone else\nnet.core.somaxconn = 4096\n');
    expect(readFileSync(dropin, 'utf8')).toContain('net.core.rmem_max = 16777216');
    await tuner.revert(applied);
    expect(snapshot(base)).toEqual(before);
  });

  it('leaves a drop-in that someone changed after tune-target, and says so', async () => {
    const { root, dropin } = fakeRoot();
    const { log, lines } = logs();
    const tuner = new KernelTuner(new LocalHost(), log, 'best-effort');
    const applied = await tuner.apply(await tuner.inspect(root, dropin));
    writeFileSync(dropin, 'net.core.rmem_max = 8388608\n');
    await tuner.revert(applied);
    expect(readFileSync(dropin, 'utf8')).toBe('net.core.rmem_max = 8388608\n');
    expect(lines.join('\n')).toContain(`warning: ${dropin} is no longer the file zdm wrote (someone changed it since tune-target): left as it is`);
    expect(readFileSync(sysctlPath(root, 'net.core.rmem_max'), 'utf8')).toBe('212992\n');
  });

  it('where writing is not permitted: best-effort warns and changes nothing; required fails', async () => {
    const { root, dropin, base } = fakeRoot();
    const before = snapshot(base);
    const { log, lines } = logs();
    const soft = new KernelTuner(new UnprivilegedHost(), log, 'best-effort');
    const applied = await soft.apply(await soft.inspect(root, dropin));
    expect(applied.notApplied).toMatch(/^kernel tuning is not permitted on the target: .*sudo is not installed/);
    expect(applied.items.some((i) => i.applied)).toBe(false);
    expect(lines.join('\n')).toMatch(
      /warning: kernel tuning is not permitted .* Continuing with the engine settings\. Set kernel-tuning: required to make this fatal/,
    );
    expect(snapshot(base)).toEqual(before);

    expect(await soft.access()).toMatch(
      /^zdm is not root on the target and sudo -n does not work there \(.*\): the kernel settings would be skipped with a warning$/,
    );

    const hard = new KernelTuner(new UnprivilegedHost(), logs().log, 'required');
    expect(await hard.access()).toMatch(/tune-target would fail \(kernel-tuning: required\)$/);
    const e = await hard.apply(await hard.inspect(root, dropin)).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(describeError(e)).toMatch(/^kernel tuning is not permitted on the target \(kernel-tuning: required\): .*Run zdm as root or with passwordless sudo/);
    expect(snapshot(base)).toEqual(before);
  });

  it('required: a failure midway puts back the values already changed', async () => {
    const { root, dropin, base } = fakeRoot();
    const tuner = new KernelTuner(new LocalHost(), logs().log, 'required');
    const plan = await tuner.inspect(root, dropin);
    // tcp_rmem cannot be written any more (a directory where the file was): the two buffer maxima before it were.
    const bad = sysctlPath(root, 'net.ipv4.tcp_rmem');
    rmSync(bad);
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'keep'), 'x');
    const before = snapshot(base);
    const e = await tuner.apply(plan).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(describeError(e)).toMatch(/kernel tuning failed on the target \(kernel-tuning: required\): .*tcp_rmem/);
    expect(snapshot(base)).toEqual(before);
  });
});

/** Whether this machine lets /proc/sys be written: write a value back as it is. */
function procSysWritable(): boolean {
  try {
    const p = '/proc/sys/net/ipv4/tcp_syncookies';
    writeFileSync(p, readFileSync(p, 'utf8'));
    return true;
  } catch {
    return false;
  }
}

describe('the real /proc/sys', () => {
  it.skipIf(!procSysWritable())('applies the plan to the running kernel and revert restores every value', async () => {
    const saved = Object.fromEntries(KERNEL_KEYS.map((k) => [k, readFileSync(sysctlPath('/proc/sys', k), 'utf8')]));
    const base = mkdtempSync(path.join(os.tmpdir(), 'zdm-sysctl-real-'));
    dirs.push(base);
    const dropin = path.join(base, '99-zdm-migration.conf');
    try {
      const tuner = new KernelTuner(new LocalHost(), logs().log, 'required');
      // Overrides make sure every writable value really changes, even on a kernel tuned already.
      const rmemMax = Number(saved['net.core.rmem_max'].trim()) + 4096;
      const applied = await tuner.apply(await tuner.inspect('/proc/sys', dropin, { 'net.core.rmem_max': String(rmemMax) }));
      expect(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim()).toBe(String(rmemMax));
      for (const i of applied.items.filter((x) => x.change)) {
        expect(readFileSync(sysctlPath('/proc/sys', i.key), 'utf8').trim().split(/\s+/).join(' ')).toBe(i.value);
      }
      await tuner.revert(applied);
      for (const k of KERNEL_KEYS) expect(readFileSync(sysctlPath('/proc/sys', k), 'utf8')).toBe(saved[k]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        try {
          writeFileSync(sysctlPath('/proc/sys', k), v);
        } catch {
          /* reported by the assertions above */
        }
      }
    }
  });
});
