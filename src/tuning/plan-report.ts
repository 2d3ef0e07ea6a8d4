/** The tuning plan for people: log lines and job summary tables, kernel and engine, each value with its reason. */
import type { TuningPlan } from '../engines/engine.js';
import { formatBytes } from '../log.js';
import { heading, table } from '../report/markdown.js';
import { describeKernelItem } from './kernel-tuner.js';
import { numbers } from './sysctl.js';

export function resourcesLine(plan: TuningPlan): string {
  return `${formatBytes(plan.memoryBytes)} RAM, ${plan.cpus} CPUs, ${plan.disk ?? 'unknown'} disk`;
}

/** One line per setting: current -> new (when), and why. */
export function planLines(plan: TuningPlan): string[] {
  const lines: string[] = [];
  if (plan.kernel) {
    lines.push(`kernel (${plan.kernel.root}, persisted in ${plan.kernel.dropin}):`);
    for (const k of plan.kernel.items) lines.push(`  ${describeKernelItem(k)}`);
  } else lines.push('kernel: left alone (kernel-tuning: off)');
  lines.push(`${plan.engine}:`);
  if (plan.items.length === 0) lines.push('  every setting already has its value; nothing to change');
  for (const i of plan.items)
    lines.push(`  ${i.name}: ${i.current ?? i.original} -> ${i.value} (${i.applies === 'restart' ? 'at next start' : 'now'}): ${i.reason}`);
  return lines;
}

/** The job summary: resources, the kernel table and the engine table. */
export function planSummary(title: string, plan: TuningPlan, note: string): string {
  let md = heading(title) + `Target: ${resourcesLine(plan)}. ${note}\n\n`;
  if (plan.kernel) {
    const k = plan.kernel;
    md += table(
      ['kernel setting', 'current', 'new', 'why'],
      k.items.map((i) => [
        i.key,
        i.original === null ? 'absent' : (numbers(i.original)?.join(' ') ?? i.original.trim()),
        i.change ? i.value + (plan.dryRun || i.applied ? '' : ' (not applied)') : 'unchanged',
        i.reason,
      ]),
    );
    md += `\nPersisted in \`${k.dropin}\`${k.notApplied ? `. **Not applied:** ${k.notApplied}` : ''}.\n\n`;
  }
  md += table(
    ['setting', 'original', 'new value', 'takes effect', 'after cutover', 'why'],
    plan.items.map((i) => [
      i.name,
      i.original + (i.current === undefined ? '' : ` (now ${i.current})`),
      i.value,
      i.applies === 'restart' ? 'next start' : 'now',
      i.revertAtCutover ? 'restored' : 'kept',
      i.reason,
    ]),
  );
  return md;
}
