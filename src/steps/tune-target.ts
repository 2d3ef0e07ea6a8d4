/**
 * tune-target: kernel and engine settings on the target, sized to its machine, as a plan with
 * the originals recorded (the `tuning` output) so that cutover and revert can restore them.
 * A dry run prints the plan and changes nothing.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext, TuningPlan } from '../engines/engine.js';
import { describeError, InputError, SafetyError } from '../errors.js';
import { KernelTuner } from '../tuning/kernel-tuner.js';
import { checkOverrides, parseOverrides, pick } from '../tuning/overrides.js';
import { planLines, planSummary, resourcesLine } from '../tuning/plan-report.js';
import { DROPIN_HEADER, KERNEL_KEYS, type KernelPlan, type LinkFacts } from '../tuning/sysctl.js';
import { percentile, probeTcp } from '../checklist/probe.js';
import { addressOf } from '../hosts/endpoint.js';
import { parseSshHost } from '../hosts/ssh.js';
import type { StepResult } from './step.js';

function absolute(input: string, path: string): string {
  if (!path.startsWith('/')) throw new InputError(input, `must be an absolute path (got ${JSON.stringify(path)})`);
  return path;
}

/** The kernel plan; a kernel that cannot even be read is skipped with a warning unless kernel-tuning is required. */
async function inspectKernel(
  tuner: KernelTuner,
  ctx: StepContext,
  root: string,
  dropin: string,
  overrides: Record<string, string>,
  link?: LinkFacts,
): Promise<KernelPlan | undefined> {
  let plan: KernelPlan;
  try {
    plan = await tuner.inspect(root, dropin, overrides, link);
  } catch (e) {
    if (ctx.inputs.kernelTuning === 'required')
      throw new SafetyError(`cannot read the kernel settings under ${root} on the target: ${describeError(e)}`, { cause: e });
    ctx.log.warn(`cannot read the kernel settings under ${root} on the target (${describeError(e)}): kernel tuning skipped`);
    return undefined;
  }
  if (plan.items.every((i) => i.original === null))
    ctx.log.warn(`none of the kernel settings exists under sysctl-root ${root}: check the path (normally /proc/sys)`);
  return plan;
}

/**
 * With link-bandwidth-mbit: the RTT to the source as a TCP connect from here takes it (to the SSH
 * host when the source is reached over SSH: that is the long link), the median of a few.
 */
async function measureLink(ctx: StepContext): Promise<LinkFacts | undefined> {
  const { inputs, log } = ctx;
  if (!inputs.linkBandwidthMbit) return undefined;
  const to = inputs.sourceSshHost ? parseSshHost(inputs.sourceSshHost) : inputs.sourceUrl && addressOf(inputs.sourceUrl);
  if (!to) {
    log.warn('link-bandwidth-mbit is set but source-url is not: the RTT to the source cannot be measured, so the socket buffers keep their fixed 16 MiB');
    return undefined;
  }
  const r = await probeTcp(to.host, to.port, { count: 10 });
  const rttMs = percentile(
    [...r.samplesMs].sort((a, b) => a - b),
    50,
  );
  if (rttMs === undefined) {
    log.warn(`link-bandwidth-mbit: no TCP connect to ${r.address} succeeded, so the RTT is unknown: the socket buffers keep their fixed 16 MiB`);
    return undefined;
  }
  log.info(`link to the source: ${inputs.linkBandwidthMbit} Mbit/s (link-bandwidth-mbit), RTT ${rttMs.toFixed(1)} ms (median TCP connect to ${r.address})`);
  return { bandwidthMbit: inputs.linkBandwidthMbit, rttMs };
}

export async function tuneTarget(ctx: StepContext): Promise<StepResult<'tune-target'>> {
  const { inputs, log } = ctx;
  const overrides = parseOverrides(inputs.tuningOverrides);
  const root = absolute('sysctl-root', inputs.sysctlRoot);
  const dropin = absolute('sysctl-dropin', inputs.sysctlDropin);
  const engine = openEngine(ctx);
  try {
    checkOverrides(overrides, engine.tuning.tunable, engine.kind);
    const memoryBytes = inputs.targetMemory ?? (await ctx.targetHost.memoryBytes());
    const cpus = inputs.targetCpus ?? (await ctx.targetHost.cpuCount());
    const disk = inputs.targetDiskType === 'auto' ? undefined : inputs.targetDiskType;
    const plan: TuningPlan = await engine.tuning.plan({ memoryBytes, cpus, disk, overrides: pick(overrides, engine.tuning.tunable) });
    const tuner = inputs.kernelTuning === 'off' ? undefined : new KernelTuner(ctx.targetHost, log, inputs.kernelTuning);
    const link = tuner ? await measureLink(ctx) : undefined;
    if (tuner) plan.kernel = await inspectKernel(tuner, ctx, root, dropin, pick(overrides, KERNEL_KEYS), link);
    if (plan.kernel?.dropinOriginal?.startsWith(DROPIN_HEADER))
      log.warn(
        `${dropin} is from an earlier tune-target that was not reverted: its values count as the current ones now. To put the host back as it was before that run, run revert with that run's tuning output first.`,
      );

    await log.group(`${inputs.dryRun ? 'Dry run: the plan' : 'The plan'} for a target with ${resourcesLine(plan)}`, async () => {
      for (const l of planLines(plan)) log.info(l);
    });
    if (inputs.dryRun) {
      plan.dryRun = true;
      if (tuner) log.info(await tuner.access());
      log.info('dry run: nothing was changed on the target');
      return {
        outputs: { tuning: JSON.stringify(plan), engine: engine.kind },
        summary: planSummary('zdm tune-target (dry run)', plan, 'Dry run: **nothing was changed**.'),
      };
    }

    if (tuner && plan.kernel) plan.kernel = await tuner.apply(plan.kernel);
    try {
      await engine.tuning.apply(plan);
    } catch (e) {
      // Without a `tuning` output nobody could revert what was changed: put it back now.
      log.warn(`applying the ${engine.kind} settings failed: putting back what was changed`);
      await engine.tuning.revert(plan.items).catch((r: unknown) => log.warn(`could not put the ${engine.kind} settings back: ${describeError(r)}`));
      if (tuner && plan.kernel) await tuner.revert(plan.kernel).catch((r: unknown) => log.warn(`could not put the kernel settings back: ${describeError(r)}`));
      throw e;
    }
    const kernelDone = plan.kernel?.items.filter((i) => i.applied).length ?? 0;
    log.info(`applied ${plan.items.length} engine and ${kernelDone} kernel setting(s); cutover restores durability, revert restores everything`);
    return {
      outputs: { tuning: JSON.stringify(plan), engine: engine.kind },
      summary: planSummary('zdm tune-target', plan, 'Cutover restores the catch-up settings; `revert` restores every value below.'),
    };
  } finally {
    await engine.close();
  }
}
