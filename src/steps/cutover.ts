/**
 * cutover: a linear script. Lag gate, fence, final position, proof it is applied, durability
 * restored, promotion; an abort between any two phases before promotion gives the source its
 * writes back. After promotion nothing is undone: there must never be two primaries.
 */
import { openEngine, tuningOf } from '../engines/index.js';
import type { Engine, Fence, StepContext, SwitchLock, TuningItem, TuningPlan } from '../engines/engine.js';
import { InputError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import { keepReplicationTunnel, stopReplicationTunnel } from '../hosts/transport.js';
import { describeTrips } from '../hosts/round-trips.js';
import { PoolerSwitch } from '../poolers/index.js';
import { describeError } from '../errors.js';
import { info, logNotes, switchSummary, warning, type Note } from '../notes.js';
import { auditFence, CUTOVER_ROLES, fenceAndPromote, lagGate, Timeline, type Switched } from '../switch/switchover.js';
import { prepareReverse, startReverse, type PreparedReverse } from '../switch/reverse-replication.js';
import { StepFailed, type StepResult } from './step.js';
import type { StepOutputs } from '../inputs.js';
import { requireApproval } from '../github/approval.js';

/**
 * Runs the parts of what follows promotion one by one: one that fails is reported as a warning and
 * does not keep the others from running (the target IS the primary whatever happens now).
 */
class AfterPromotion {
  readonly notes: Note[] = [];
  readonly failed: string[] = [];
  async part(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.failed.push(`${what} failed: ${describeError(e)}`);
      this.notes.push(warning(`${what} failed after the promotion: ${describeError(e)}`));
    }
  }
  /** A part that reported its own failure (the poolers' repoint or RESUME after the switch). */
  fail(what: string): void {
    this.failed.push(what);
    this.notes.push(warning(what));
  }
}

/** What follows promotion: hand over the endpoint, restore the remaining settings, clean up. Safe to run again. */
async function afterPromotion(engine: Engine, ctx: StepContext, plan: TuningPlan | undefined, tl: Timeline, after: AfterPromotion): Promise<void> {
  const { inputs } = ctx;
  const endpoint = engine.switch.endpoint();
  const notes = after.notes;
  if (inputs.onPromotedCommand)
    await after.part('on-promoted-command', async () => {
      const r = await ctx.runnerHost.shell(inputs.onPromotedCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 });
      if (r.code !== 0)
        notes.push(
          warning(
            `on-promoted-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. The target IS the primary now: point the application at ${endpoint} yourself.`,
          ),
        );
      else tl.mark('on-promoted-command done');
    });
  const rest = plan?.items.filter((i) => i.revertAtCutover && !i.relaxesDurability) ?? [];
  if (rest.length)
    await after.part('restoring the catch-up settings', async () => {
      await engine.tuning.revert(rest);
      tl.mark(`catch-up settings restored: ${rest.map((i) => `${i.name}=${i.original}`).join(', ')}`);
    });
  await after.part('the clean-up after promotion', async () => {
    notes.push(...(await engine.switch.cleanupAfterPromotion()));
  });
  if (inputs.sourceSshHost)
    await after.part('stopping the replication tunnel', async () => {
      if (await stopReplicationTunnel(inputs)) notes.push(info('stopped the replication tunnel'));
    });
}

/** What is left to do by hand on the old source, for the message of a promotion whose aftermath failed. */
function leftOnOldSource(fence: string): string {
  const state =
    fence === 'shutdown'
      ? 'The old source is stopped by the fence: never start it as a primary again.'
      : fence === 'read-only'
        ? 'The old source stays fenced (read-only): keep the application away from it.'
        : 'The old source stays as the first run fenced it: keep the application away from it.';
  return `${state} Run cutover again once both servers are reachable: it fences and promotes nothing again and finishes what follows promotion (see the notes).`;
}

/** The result of a cutover that promoted the target; a StepFailed carrying it when anything after the promotion failed. */
function promotedResult(
  endpoint: string,
  outputs: Omit<StepOutputs<'cutover'>, 'endpoint'>,
  headline: string,
  tl: Timeline,
  after: AfterPromotion,
  ctx: StepContext,
): StepResult<'cutover'> {
  logNotes(ctx.log, after.notes);
  const result: StepResult<'cutover'> = {
    outputs: { endpoint, ...outputs },
    summary: switchSummary('zdm cutover', headline, tl.rows(), after.notes),
    timeline: tl.phases(),
  };
  if (after.failed.length)
    throw new StepFailed(
      `the target WAS promoted and is the primary now: point the application at ${endpoint}. But ${after.failed.join('; ')}. ${leftOnOldSource(outputs.fence)}`,
      result,
    );
  return result;
}

/**
 * A re-run after the target was promoted (the runner crashed, or the step failed after promotion):
 * nothing is fenced or promoted again; durability and what follows promotion are made sure of.
 */
async function alreadyPromoted(
  engine: Engine,
  ctx: StepContext,
  plan: TuningPlan | undefined,
  durability: TuningItem[],
  detail: string,
  poolers: PoolerSwitch,
): Promise<StepResult<'cutover'>> {
  const tl = new Timeline(ctx);
  ctx.log.warn(`the cutover was already done (${detail}): nothing is fenced or promoted again; finishing what follows promotion`);
  const after = new AfterPromotion();
  // First: the application's requests may be held in a pooler the earlier run paused.
  await after.part('repointing and resuming the pooler(s)', () => poolers.finish(engine.switch.endpoint()));
  if (durability.length)
    await after.part('making sure of durability', async () => {
      await engine.tuning.revert(durability);
      tl.mark(`durability made sure of: ${durability.map((i) => `${i.name}=${i.original}`).join(', ')}`);
    });
  await afterPromotion(engine, ctx, plan, tl, after);
  if (ctx.inputs.reverseReplication)
    after.notes.push(
      warning('reverse replication was not set up: this run found the cutover already done. Set it up by hand, or keep the old source as it is.'),
    );
  const endpoint = engine.switch.endpoint();
  const headline = `**The cutover had already been done** by an earlier run (${detail}); nothing was fenced or promoted again. New primary: \`${endpoint}\`.`;
  // Reverse replication is not set up by a re-run: its outputs stay empty.
  const outputs = {
    'write-blocked-ms': '',
    'source-round-trips': '',
    'final-position': '',
    fence: 'already-done',
    'writes-after-fence': '',
    'pooler-held-ms': '',
    'reverse-replication': '',
    'reverse-position': '',
    'reverse-from': '',
  };
  return promotedResult(endpoint, outputs, headline, tl, after, ctx);
}

/** Everything after a promotion this run made: hand-over, clean-up, writes past the fence, reverse replication. */
async function afterSwitch(
  engine: Engine,
  ctx: StepContext,
  plan: TuningPlan | undefined,
  tl: Timeline,
  sw: Switched,
  reverse: PreparedReverse | undefined,
  poolers: PoolerSwitch,
): Promise<StepResult<'cutover'>> {
  const writeBlockedMs = sw.promotedAt - sw.blockedSince;
  const trips = sw.sourceTrips ? `, source round trips: ${describeTrips(sw.sourceTrips)}` : '';
  ctx.log.info(`write-blocked window: ${writeBlockedMs} ms${trips}`);
  const endpoint = engine.switch.endpoint();
  const after = new AfterPromotion();
  for (const p of poolers.problems) after.fail(p);
  const outputs: Omit<StepOutputs<'cutover'>, 'endpoint'> = {
    'write-blocked-ms': String(writeBlockedMs),
    'source-round-trips': sw.sourceTrips ? String(sw.sourceTrips.total) : '',
    'final-position': sw.finalPos,
    fence: sw.fence.mode,
    'writes-after-fence': '',
    'pooler-held-ms': poolers.heldMs === undefined ? '' : String(poolers.heldMs),
    'reverse-replication': reverse ? 'failed' : 'off',
    'reverse-position': '',
    'reverse-from': '',
  };
  await afterPromotion(engine, ctx, plan, tl, after);
  // Before reverse replication, which writes the new primary's transactions on the old source.
  await after.part('the check for writes after the fence', async () => {
    outputs['writes-after-fence'] = await auditFence(engine, ctx, sw, after.notes);
  });
  await after.part('setting up reverse replication', async () => {
    Object.assign(outputs, await startReverse(engine, ctx, reverse, sw.fence, sw.finalPos, tl, after.notes));
  });
  const past =
    Number(outputs['writes-after-fence']) > 0
      ? ` **${outputs['writes-after-fence']} transaction(s) were written on the old source after the fence: they are NOT on the new primary.**`
      : '';
  const held =
    poolers.heldMs === undefined ? '' : ` The application's requests waited in the pooler(s) for ${poolers.heldMs} ms (PAUSE to RESUME) instead of failing.`;
  const headline = `**Write-blocked window: ${writeBlockedMs} ms** (fence: ${sw.fence.mode}${trips}). New primary: \`${endpoint}\`.${held}${past}`;
  return promotedResult(endpoint, outputs, headline, tl, after, ctx);
}

/** The shutdown fence runs source-stop-command: refused without it, before anything is changed. */
function requireStopCommand(fence: Fence['mode'], inputs: StepContext['inputs']): void {
  if (fence === 'shutdown' && !inputs.sourceStopCommand)
    throw new InputError(
      'source-stop-command',
      `is required with fence: shutdown${inputs.fenceGiven ? '' : ' (what fence: auto means for a physical PostgreSQL migration)'}: give the command that stops the source (fast shutdown), or choose fence: read-only`,
    );
}

export async function cutover(ctx: StepContext): Promise<StepResult<'cutover'>> {
  const { inputs, log } = ctx;
  // A fence the user chose is checked before any server is reached; `auto` once the engine has settled it.
  if (inputs.fenceGiven) requireStopCommand(inputs.fence, inputs);
  // A person is proven to have approved the switch before anything is locked, paused or fenced.
  await requireApproval(ctx, 'cutover');
  const plan = tuningOf(ctx);
  if (!plan)
    log.warn(
      "no tuning input and no tune-target plan in the migration record: zdm cannot restore settings tune-target changed; pass tune-target's `tuning` output",
    );
  else if (inputs.tuning === undefined) log.info('tuning: the plan tune-target wrote into the migration record');
  await keepReplicationTunnel(ctx);
  const engine = openEngine(ctx);
  const tl = new Timeline(ctx);
  let lock: SwitchLock | undefined;
  let poolers: PoolerSwitch | undefined;
  try {
    // Before anything is read or changed: a second cutover or a rollback at the same time refuses here.
    lock = await engine.switch.lockSwitch('cutover');
    // Then, before anything else: a pooler left paused by a run that died gets the application's requests back.
    poolers = await PoolerSwitch.open(ctx, (what, at) => tl.mark(what, at));
    // Without the tuning input, zdm's own persisted profile still tells what it relaxed: a new primary never keeps that.
    const durability = plan ? plan.items.filter((i) => i.relaxesDurability) : ((await engine.tuning.relaxedDurability?.()) ?? []);
    if (!plan && durability.length)
      log.warn(
        `zdm's catch-up profile relaxed durability on the target (${durability.map((i) => `${i.name}=${i.value}`).join(', ')}): cutover sets it durable before promotion`,
      );
    // Read what the servers really are: this may be a re-run after a failure or a runner crash.
    const state = await engine.replication.migrationState();
    ctx.journal?.checkAgainst(state, ctx.log);
    if (state.target === 'primary' && state.seededByZdm && state.source !== 'writable')
      return await alreadyPromoted(engine, ctx, plan, durability, state.detail, poolers);
    const resume = (state.target === 'streaming-replica' || state.target === 'broken-replica') && state.source !== 'writable';
    // What `fence: auto` means depends on the migration (PostgreSQL logical: read-only), settled before anything changes.
    requireStopCommand((await engine.switch.fenceMode?.()) ?? inputs.fence, inputs);

    // With reverse-replication, everything it needs is proven before writes are blocked.
    const reverse = inputs.reverseReplication ? await prepareReverse(engine, ctx) : undefined;
    if (resume) {
      log.warn(
        `continuing an interrupted cutover (${state.detail}): no write can have been acknowledged by the source since its fence, so the lag gate is skipped; the target must still prove it applied the source's last write before it is promoted`,
      );
    } else {
      const lag = await lagGate(engine, ctx);
      tl.mark(`lag gate passed: ${lag}`);
    }
    // Written before the fence, not inside the write-blocked window: a run that dies from here on leaves `fenced` in the record.
    await ctx.journal?.phase('fenced', 'cutover fences the source');
    // With a pooler: PAUSE around the fenced switch, then repoint and RESUME (src/poolers).
    const sw = await poolers.around(
      () => fenceAndPromote(engine, ctx, tl, durability, CUTOVER_ROLES, resume),
      () => engine.switch.endpoint(),
    );
    return await afterSwitch(engine, ctx, plan, tl, sw, reverse, poolers);
  } finally {
    await poolers?.close();
    await engine.close();
    await lock?.release();
  }
}
