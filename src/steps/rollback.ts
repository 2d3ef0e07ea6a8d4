/**
 * rollback: after a cutover with reverse-replication, the same fenced switch the other way round.
 * The engine is opened on swapped roles: the new primary is "the source" that gets fenced, the
 * old source (a replica of it since cutover) is "the target" that must prove it applied the new
 * primary's last position before it is promoted. Zero lost writes, by the same proof as cutover.
 */
import { openEngine } from '../engines/index.js';
import type { Engine, StepContext, SwitchLock } from '../engines/engine.js';
import { InputError, SafetyError, describeError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import type { SideNames, StepSides } from '../hosts/endpoint.js';
import type { Inputs, StepOutputs } from '../inputs.js';
import { info, logNotes, switchSummary, warning, type Note } from '../notes.js';
import { auditFence, fenceAndPromote, lagGate, Timeline, type Roles, type Switched } from '../switch/switchover.js';
import { StepFailed, type StepResult } from './step.js';
import { requireApproval } from '../github/approval.js';

/**
 * What rollback calls the engine's sides: its source is the new primary (fenced), its target the old
 * source (promoted); after the switch the old source is the primary again and the new primary the
 * migration target. The engine words its messages with these names, so nothing is reworded.
 */
export const ROLLBACK_NAMES: SideNames = {
  source: 'the new primary',
  target: 'the old source',
  newPrimary: 'the old source (primary again)',
  oldSource: 'the migration target',
};

/** rollback's sides as its errors name them: target-url is the new primary it fences, source-url the old source it promotes. */
export const ROLLBACK_SIDES: StepSides = {
  names: ROLLBACK_NAMES,
  sideOf: (input) => (input === 'target-url' ? 'source' : input === 'source-url' ? 'target' : undefined),
};

const ROLES: Roles = {
  step: 'rollback',
  from: ROLLBACK_NAMES.source,
  to: ROLLBACK_NAMES.target,
  names: ROLLBACK_NAMES,
  retry: 'Wait until the old source has caught up with the new primary, then rollback again.',
};

/** The step's context with source and target swapped: what the engine fences and what it promotes. */
export function reversedContext(ctx: StepContext): StepContext {
  const i = ctx.inputs;
  const inputs: Inputs = {
    ...i,
    sourceUrl: i.targetUrl,
    targetUrl: i.sourceUrl!,
    sourceStopCommand: i.targetStopCommand,
    sourceStartCommand: i.targetStartCommand,
    targetStopCommand: '',
    targetStartCommand: '',
    replicationSlot: i.reverseReplicationSlot,
    sourceSshHost: '',
    tuning: undefined,
  };
  // The engine's source is the user's target endpoint and its target the user's source: each keeps its own input and label.
  return {
    ...ctx,
    inputs,
    source: ctx.target,
    target: ctx.source!,
    names: ROLLBACK_NAMES,
    sourceHost: ctx.targetHost,
    targetHost: ctx.sourceHost,
    ssh: undefined,
  };
}

/** Refuses, before anything changes, when the old source is not a healthy replica of the new primary. */
async function reverseRunning(engine: Engine): Promise<void> {
  const s = await engine.replication.measureLag().catch((e: unknown) => {
    throw new SafetyError(
      `rollback refused: cannot see reverse replication (${describeError(e, ROLLBACK_NAMES)}). Nothing was changed; the new primary keeps its writes. A finalized migration has no way back.`,
      { cause: e },
    );
  });
  if (s.streaming && !s.fatal) return;
  throw new SafetyError(
    `rollback refused: the old source is not replicating from the new primary (${s.detail}${s.fatal && s.streaming ? `; ${s.fatal}` : ''}). Reverse replication was not set up (cutover with reverse-replication: true) or is broken, so the old source may miss writes the new primary acknowledged. Nothing was changed; the new primary keeps its writes.`,
  );
}

export async function rollback(ctx: StepContext): Promise<StepResult<'rollback'>> {
  const { inputs } = ctx;
  if (inputs.fence === 'shutdown' && !inputs.targetStopCommand) {
    throw new InputError(
      'target-stop-command',
      'is required by rollback with fence: shutdown (the PostgreSQL default): the command that fast-stops the new primary, or choose fence: read-only',
    );
  }
  // A person is proven to have approved the switch back before anything is locked or fenced.
  await requireApproval(ctx, 'rollback');
  return switchBack(ctx);
}

async function switchBack(ctx: StepContext): Promise<StepResult<'rollback'>> {
  const { log } = ctx;
  const back = reversedContext(ctx);
  const engine = openEngine(back);
  const tl = new Timeline(back);
  let lock: SwitchLock | undefined;
  try {
    await reverseRunning(engine);
    // On the old source (the side promoted, which stays up), before anything changes: a cutover or rollback at the same time refuses.
    lock = await engine.switch.lockSwitch('rollback');
    const lag = await lagGate(engine, back, ROLES);
    tl.mark(`lag gate passed: ${lag}`);
    const sw = await fenceAndPromote(engine, back, tl, [], ROLES);
    const writeBlockedMs = sw.promotedAt - sw.blockedSince;
    log.info(`write-blocked window of the rollback: ${writeBlockedMs} ms`);
    return await afterRollback(ctx, engine, tl, sw, writeBlockedMs);
  } finally {
    await engine.close();
    await lock?.release();
  }
}

/** What follows the promotion of the old source; a part that fails is reported, the others still run. */
async function afterRollback(ctx: StepContext, engine: Engine, tl: Timeline, sw: Switched, writeBlockedMs: number): Promise<StepResult<'rollback'>> {
  const { inputs, log } = ctx;
  const endpoint = engine.switch.endpoint();
  const notes: Note[] = [];
  const failed: string[] = [];
  const part = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      failed.push(`${what} failed: ${describeError(e, ROLLBACK_NAMES)}`);
      notes.push(warning(`${what} failed after the promotion: ${describeError(e, ROLLBACK_NAMES)}`));
    }
  };
  if (inputs.onPromotedCommand)
    await part('on-promoted-command', async () => {
      const r = await ctx.runnerHost.shell(inputs.onPromotedCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 });
      if (r.code !== 0)
        notes.push(
          warning(
            `on-promoted-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. The old source IS the primary again: point the application at ${endpoint} yourself.`,
          ),
        );
      else tl.mark('on-promoted-command done');
    });
  await part('the clean-up after promotion', async () => {
    notes.push(...(await engine.switch.cleanupAfterPromotion()));
  });
  const outputs: StepOutputs<'rollback'> = {
    endpoint,
    'write-blocked-ms': String(writeBlockedMs),
    'final-position': sw.finalPos,
    fence: sw.fence.mode,
    'writes-after-fence': '',
  };
  await part('the check for writes after the fence', async () => {
    outputs['writes-after-fence'] = await auditFence(engine, ctx, sw, notes, ROLES);
  });
  notes.push(
    info(
      sw.fence.mode === 'shutdown'
        ? 'the migration target stays stopped (fenced). To migrate again, run seed-replica anew.'
        : sw.fence.mode === 'accounts'
          ? 'the migration target keeps the application accounts locked and replicates from nothing. To migrate again, run seed-replica anew.'
          : 'the migration target stays read-only and replicates from nothing. To migrate again, run seed-replica anew.',
    ),
  );
  logNotes(log, notes);
  const headline = `**Write-blocked window: ${writeBlockedMs} ms** (fence on the new primary: ${sw.fence.mode}). Primary again: \`${endpoint}\`.`;
  const result: StepResult<'rollback'> = { outputs, summary: switchSummary('zdm rollback', headline, tl.rows(), notes) };
  if (failed.length)
    throw new StepFailed(
      `the old source WAS promoted and is the primary again: point the application at ${endpoint}. But ${failed.join('; ')}. The migration target stays fenced: keep the application away from it.`,
      result,
    );
  return result;
}
