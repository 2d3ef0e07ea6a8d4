/**
 * KernelTuner: reads, applies and reverts the kernel plan on the target's Host (this machine or
 * one reached over SSH): the live value under /proc/sys and a drop-in under /etc/sysctl.d, with
 * `sudo -n` when zdm is not root there. Where the kernel refuses (a container's read-only
 * /proc/sys, no sudo), best-effort warns and goes on; required fails, putting back what it changed.
 */
import type { Host } from '../hosts/host.js';
import { lastLines } from '../hosts/host.js';
import type { Log } from '../log.js';
import { SafetyError, describeError } from '../errors.js';
import {
  DROPIN_HEADER,
  dropinText,
  KERNEL_SETTINGS,
  numbers,
  planKernel,
  sysctlPath,
  type KernelItem,
  type KernelMode,
  type KernelPlan,
  type LinkFacts,
} from './sysctl.js';

const REFUSED = /permission denied|read-only file system|not permitted|password is required|sudo:/i;

/** Whether a failure is the kernel or the OS refusing the write (rather than a bad value). */
export function isNotPermitted(message: string): boolean {
  return REFUSED.test(message);
}

export class KernelTuner {
  private sudo?: string[];

  constructor(
    private readonly host: Host,
    private readonly log: Log,
    private readonly mode: KernelMode,
  ) {}

  /** Current values and the drop-in's text: the plan, nothing written. */
  async inspect(root: string, dropin: string, overrides: Record<string, string> = {}, link?: LinkFacts): Promise<KernelPlan> {
    const current: Record<string, string | null> = {};
    for (const s of KERNEL_SETTINGS) current[s.key] = await this.read(sysctlPath(root, s.key));
    return { root, dropin, dropinOriginal: await this.read(dropin), dropinWritten: false, items: planKernel(current, overrides, link) };
  }

  /** For a dry run: how the writes would be made, or why they could not be, without writing anything. */
  async access(): Promise<string> {
    if ((await this.host.run(['id', '-u'])).stdout.trim() === '0') return 'zdm is root on the target: it can write the kernel settings';
    const r = await this.host.run(['sudo', '-n', 'true']).catch((e: Error) => ({ code: 127, stderr: e.message, stdout: '' }));
    if (r.code === 0) return 'zdm is not root on the target: it would write the kernel settings with sudo -n';
    const then = this.mode === 'required' ? 'tune-target would fail (kernel-tuning: required)' : 'the kernel settings would be skipped with a warning';
    return `zdm is not root on the target and sudo -n does not work there (${lastLines(r.stderr || r.stdout, 1) || `exit ${r.code}`}): ${then}`;
  }

  /** Writes the changed live values, then the drop-in. Returns the plan with what was applied marked. */
  async apply(plan: KernelPlan): Promise<KernelPlan> {
    const out: KernelPlan = { ...plan, items: plan.items.map((i) => ({ ...i, applied: false })) };
    const changes = out.items.filter((i) => i.change);
    if (changes.length === 0) return out;
    try {
      for (const item of changes) {
        await this.writeLive(out.root, item, item.value + '\n', () => (item.applied = true));
      }
      await this.writeFile(out.dropin, dropinText(out.items));
      out.dropinWritten = true;
    } catch (e) {
      const why = describeError(e);
      const what = isNotPermitted(why) ? 'kernel tuning is not permitted on the target' : 'kernel tuning failed on the target';
      if (this.mode === 'required') {
        const undo = await this.revert(out).then(
          () => 'The kernel values changed so far were put back',
          (r: unknown) => `PUTTING BACK the kernel values changed so far FAILED (${describeError(r)}): restore them from the originals in the log`,
        );
        throw new SafetyError(
          `${what} (kernel-tuning: required): ${why}. ${undo}; no engine setting was changed. Run zdm as root or with passwordless sudo on the target, or set kernel-tuning: best-effort.`,
          { cause: e },
        );
      }
      out.notApplied = `${what}: ${why}`;
      const done = out.items.filter((i) => i.applied).map((i) => i.key);
      const partly = done.length ? ` (applied before the failure: ${done.join(', ')}; revert restores them)` : '';
      this.log.warn(`${out.notApplied}. Continuing with the engine settings${partly}. Set kernel-tuning: required to make this fatal, or off to skip it.`);
    }
    return out;
  }

  /** Writes back the exact original text of every applied value and removes (or restores) the drop-in. Safe to run twice. */
  async revert(plan: KernelPlan): Promise<string[]> {
    const restored: string[] = [];
    const failures: string[] = [];
    for (const item of plan.items.filter((i) => i.applied && i.original !== null)) {
      try {
        await this.writeLive(plan.root, item, item.original!);
        restored.push(item.key);
      } catch (e) {
        failures.push(`${item.key}: ${describeError(e)}`);
      }
    }
    if (plan.dropinWritten) {
      try {
        const now = await this.read(plan.dropin);
        if (now !== null && !now.startsWith(DROPIN_HEADER)) {
          this.log.warn(`${plan.dropin} is no longer the file zdm wrote (someone changed it since tune-target): left as it is`);
        } else if (plan.dropinOriginal !== null) {
          await this.writeFile(plan.dropin, plan.dropinOriginal);
          restored.push(plan.dropin);
        } else {
          if (now !== null) await this.privileged(['rm', '-f', '--', plan.dropin], `remove ${plan.dropin}`);
          restored.push(plan.dropin);
        }
      } catch (e) {
        failures.push(`${plan.dropin}: ${describeError(e)}`);
      }
    }
    if (failures.length > 0) {
      const msg = `could not restore the kernel settings: ${failures.join('; ')}`;
      if (this.mode === 'required') throw new SafetyError(`${msg}. Run zdm revert as root or with passwordless sudo on the target, or restore them by hand.`);
      this.log.warn(`${msg}. Restore them by hand (the originals are in the tuning input), or run zdm revert again as root.`);
    }
    return restored;
  }

  private async read(path: string): Promise<string | null> {
    if (!(await this.host.exists(path))) return null;
    return this.host.readFile(path);
  }

  /** Writes a live value and reads it back: the kernel may clamp or refuse a value silently. */
  private async writeLive(root: string, item: KernelItem, text: string, written?: () => void): Promise<void> {
    const path = sysctlPath(root, item.key);
    await this.privileged(['sh', '-c', 'printf "%s" "$1" > "$2"', 'zdm', text, path], `write ${path}`);
    written?.();
    const now = numbers(await this.host.readFile(path));
    const want = numbers(text);
    if (!now || !want || now.join(' ') !== want.join(' ')) {
      throw new Error(`${path} reads ${JSON.stringify(now?.join(' '))} after writing ${JSON.stringify(want?.join(' ') ?? text)}`);
    }
  }

  /** Replaces a file atomically (a temporary file beside it, then mv), mode 644. */
  private async writeFile(path: string, text: string): Promise<void> {
    const script = 'printf "%s" "$1" > "$2.zdm-tmp" && chmod 644 "$2.zdm-tmp" && mv -f "$2.zdm-tmp" "$2"';
    await this.privileged(['sh', '-c', script, 'zdm', text, path], `write ${path}`);
  }

  private async privileged(argv: string[], what: string): Promise<void> {
    this.sudo ??= (await this.host.run(['id', '-u'])).stdout.trim() === '0' ? [] : ['sudo', '-n'];
    const r = await this.host.run([...this.sudo, ...argv]).catch((e: unknown) => {
      if (this.sudo?.length) throw new Error(`cannot ${what}: zdm is not root on the target and sudo is not installed there (not permitted)`, { cause: e });
      throw e;
    });
    if (r.code !== 0) throw new Error(`cannot ${what}${this.sudo.length ? ' (with sudo -n)' : ''}: ${lastLines(r.stderr || r.stdout, 3) || `exit ${r.code}`}`);
  }
}

/** One line per kernel item, for the log. */
export function describeKernelItem(i: KernelItem): string {
  if (i.original === null) return `${i.key}: not on this kernel, skipped`;
  const cur = numbers(i.original)?.join(' ') ?? i.original.trim();
  return `${i.key}: ${cur} -> ${i.change ? i.value : 'unchanged'}: ${i.reason}`;
}
