/**
 * The fenced switch of the primary that cutover and rollback share: lag gate, fence, final
 * position after the fence, proof the other side applied it, durability restored, promotion. An
 * abort between any two phases before promotion gives the fenced side its writes back; after
 * promotion nothing is undone: there must never be two primaries. rollback runs it with the engine
 * opened on swapped roles (the new primary fenced, the old source promoted).
 */
import { FenceError, type Engine, type Fence, type StepContext, type SwitchMark, type TuningItem } from '../engines/engine.js';
import { capitalized, CUTOVER_NAMES, type SideNames } from '../hosts/endpoint.js';
import { SafetyError, UserError, describeError } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { describeLag, withinBounds } from '../lag/watch.js';
import { sleep } from '../sleep.js';
import { bind, fail, inScope, ok, runChecks, type CheckUnit } from '../checks/check.js';
import { info, warning, type Note } from '../notes.js';
import type { TripCount } from '../hosts/round-trips.js';

/**
 * The step and how it names the two sides. The engine words its own messages with the same names
 * (the context's `names`), so nothing is reworded afterwards.
 */
export interface Roles {
  step: 'cutover' | 'rollback';
  /** The side that is fenced, e.g. "the source". */
  from: string;
  /** The side that is promoted, e.g. "the target". */
  to: string;
  /** The step's names for the sides, for the errors about one side (SideError) it passes on. */
  names: SideNames;
  /** What to do when lag is too high, e.g. "Run await-lag-zero, then cutover again." */
  retry: string;
}

export const CUTOVER_ROLES: Roles = {
  step: 'cutover',
  from: CUTOVER_NAMES.source,
  to: CUTOVER_NAMES.target,
  names: CUTOVER_NAMES,
  retry: 'Run await-lag-zero, then cutover again.',
};

/** The step's moments; those with a phase make the switch's timing breakdown (bench, rehearsal). */
export class Timeline {
  readonly events: (Omit<SwitchMark, 'phase'> & { phase?: string })[] = [];
  constructor(private readonly ctx: StepContext) {}
  mark(what: string, at = Date.now(), phase?: string): void {
    this.events.push({ at, what, ...(phase ? { phase } : {}) });
    this.ctx.log.info(what);
  }
  /** Takes over the moments the engine recorded on the fence since the last call. */
  drain(f: Fence | undefined): void {
    for (const m of (f?.marks?.splice(0) ?? []).sort((a, b) => a.at - b.at)) this.mark(m.what, m.at, m.phase);
  }
  /** The moments that carry a phase: the switch's timing breakdown. */
  phases(): SwitchMark[] {
    return this.events.filter((e): e is SwitchMark => e.phase !== undefined);
  }
  rows(): string[][] {
    // An interrupted run's fence, found later, comes first.
    const events = [...this.events].sort((a, b) => a.at - b.at);
    const t0 = events[0]?.at ?? 0;
    return events.map((e) => [`+${e.at - t0} ms`, e.what]);
  }
}

/** What the switch's checks before the fence share. */
export interface SwitchGate {
  engine: Engine;
  ctx: StepContext;
  roles: Roles;
}

/** The switch's own check before the fence: lag within the bounds, read on a fresh heartbeat (Vitess #9525: never fence a lagging replica). */
export const lagBeforeFence: CheckUnit<SwitchGate> = {
  id: 'lag-before-fence',
  title: 'lag before the fence',
  scopes: ['cutover'],
  async run({ engine, ctx, roles }) {
    const hb = await engine.replication.startHeartbeat();
    try {
      // Two heartbeats, so that the reading on the target is a fresh one.
      await sleep(1200);
      const s = await engine.replication.measureLag();
      if (s.fatal || !withinBounds(s, ctx.inputs))
        return fail(
          `lag is too high to block writes now (${describeLag(s)}; bounds ${ctx.inputs.maxLagBytes} bytes and ${ctx.inputs.maxLagSeconds} s${s.streaming ? '' : `; ${roles.to} is not streaming`}). Nothing was changed. ${roles.retry} ${s.fatal ?? s.detail}`,
        );
      return ok(describeLag(s));
    } finally {
      await hb.stop();
    }
  },
};

/**
 * The checks of scope `cutover`, before the fence of cutover and of rollback (the same switch the
 * other way): the switch's lag check, then the engine's own units of that scope. A failed one
 * refuses the switch with nothing changed; an error (a server out of reach) ends it as it is.
 * Returns the lag as measured, for the timeline.
 */
export async function lagGate(engine: Engine, ctx: StepContext, roles: Roles = CUTOVER_ROLES): Promise<string> {
  const units = inScope([...bind([lagBeforeFence], { engine, ctx, roles }), ...engine.seeding.checks()], 'cutover');
  const results = await runChecks(units, { onError: 'throw' });
  const failed = results.filter((r) => r.status === 'fail');
  if (failed.length === 1) throw new SafetyError(failed[0].detail);
  if (failed.length > 1)
    throw new SafetyError(`${roles.step} refused before the fence, nothing was changed:\n${failed.map((r) => `- ${r.check}: ${r.detail}`).join('\n')}`);
  for (const r of results) if (r.status === 'warn') ctx.log.warn(`${r.check}: ${r.detail}`);
  return results.find((r) => r.id === lagBeforeFence.id)?.detail ?? '';
}

export interface Switched {
  fence: Fence;
  finalPos: string;
  promotedAt: number;
  /** When writes were first blocked: this run's fence, or an interrupted run's that this one continued. */
  blockedSince: number;
  /** What zdm sent the fenced side from its fence to the promotion: each at least one round trip. */
  sourceTrips?: TripCount;
}

/** Fence `from`, prove `to` has applied its last position, restore `durability` on `to`, promote `to`. */
export async function fenceAndPromote(
  engine: Engine,
  ctx: StepContext,
  tl: Timeline,
  durability: TuningItem[],
  roles: Roles = CUTOVER_ROLES,
  /** An interrupted switch continues: the fenced side may already be down or read-only. */
  resume = false,
): Promise<Switched> {
  const { inputs, log } = ctx;
  let fence: Fence | undefined;
  let promoted = false;
  let finalPos: string;
  let blockedSince: number | undefined;
  try {
    // Kept on the servers, so that a run continuing after a crash reports the window clients saw.
    if (!resume)
      await engine.switch
        .recordFenceStart(roles.step, Date.now())
        .catch((e: unknown) => log.warn(`could not record the fence time on ${roles.from}: ${describeError(e, roles.names)}`));
    fence = await engine.switch.fence(resume);
    const marks = fence.marks?.splice(0) ?? [];
    tl.mark(`${roles.from.replace(/^the /, '')} fenced (${fence.mode}): writes blocked`, fence.startedAt, 'start');
    for (const m of marks) tl.mark(m.what, m.at, m.phase);
    tl.mark('fence in place', Date.now(), 'fence');
    finalPos = await engine.switch.finalPosition(fence);
    tl.drain(fence);
    tl.mark(`final ${roles.from.replace(/^the /, '')} position captured after the fence: ${finalPos}`, Date.now(), 'final-position');
    failpoint(`${roles.step}:after-fence`);
    await engine.switch.waitApplied(finalPos, inputs.applyTimeoutSeconds * 1000);
    tl.mark(`${roles.to.replace(/^the /, '')} has applied ${finalPos}`, Date.now(), 'applied');
    if (resume) blockedSince = await firstFence(engine, roles, tl, fence.startedAt);
    if (durability.length) {
      await engine.tuning.revert(durability);
      tl.mark(`durability restored before promotion: ${durability.map((i) => `${i.name}=${i.original}`).join(', ')}`, Date.now(), 'durability');
    }
    promoted = true; // from here on the promoted side may be a primary: never give the fenced side its writes back
    await engine.switch.promote(fence);
    tl.drain(fence);
    failpoint(`${roles.step}:after-promote`);
  } catch (e) {
    const fenceOf = fence ?? (e instanceof FenceError ? e.fence : undefined);
    if (promoted) {
      throw new UserError(
        `promotion of ${roles.to} failed or is uncertain: ${describeError(e, roles.names)}. ${capitalized(roles.from)} stays fenced. Check ${roles.to}: if it is a primary (${engine.switch.primaryCheckHint()}), point the application at it; if not, lift the fence on ${roles.from} by hand.`,
        { cause: e },
      );
    }
    if (fenceOf) {
      log.warn(`${roles.step} aborted after the fence: ${describeError(e, roles.names)}. Giving ${roles.from} its writes back.`);
      let unfenceError: unknown;
      try {
        await engine.switch.unfence(fenceOf);
        tl.mark(`${roles.from.replace(/^the /, '')} unfenced: it takes writes again`);
      } catch (u) {
        unfenceError = u;
      }
      // After the writes are back (they come first), whatever the switch made on the other side for later goes.
      const undone = await abandoned(engine, roles);
      if (unfenceError !== undefined)
        throw new UserError(
          `${roles.step} aborted (${describeError(e, roles.names)}) AND giving ${roles.from} its writes back failed: ${describeError(unfenceError, roles.names)}. ${capitalized(roles.from)} is still fenced: lift the fence by hand.${undone}`,
          { cause: e },
        );
      const cause = describeError(e, roles.names);
      throw new UserError(
        `${roles.step} aborted, ${roles.from} has its writes back and ${roles.to} is still a replica: ${undone ? `${cause.replace(/\.?$/, '.')}${undone}` : cause}`,
        { cause: e },
      );
    }
    throw e;
  }
  const promotedAt = Date.now();
  tl.mark(`${roles.to.replace(/^the /, '')} promoted: it accepts writes`, promotedAt, 'promote');
  const sourceTrips = ctx.source?.trips?.between(fence.startedAt, promotedAt);
  return { fence, finalPos, promotedAt, blockedSince: blockedSince ?? fence.startedAt, sourceTrips };
}

/** What the engine removed (or could not) of what the aborted switch made on the side to be promoted, as the tail of the abort's message. */
async function abandoned(engine: Engine, roles: Roles): Promise<string> {
  try {
    const said = (await engine.switch.abandonBeforePromotion?.()) ?? '';
    return said ? ` ${said}` : '';
  } catch (x) {
    return ` Removing what the switch made on ${roles.to} failed: ${describeError(x, roles.names)}`;
  }
}

/** The fence start the interrupted run recorded (replicated to the side being promoted), when it is earlier than this run's. */
async function firstFence(engine: Engine, roles: Roles, tl: Timeline, ownStart: number): Promise<number> {
  const first = await engine.switch.recordedFenceStart(roles.step).catch(() => undefined);
  if (first === undefined || first > ownStart) return ownStart;
  tl.mark(`the interrupted ${roles.step} blocked writes from ${new Date(first).toISOString()} (recorded on the servers): the window counts from there`, first);
  return first;
}

/**
 * After promotion: the transactions the fenced side took past its fence (writes by sessions the
 * fence cannot stop), reported loudly. Returns the `writes-after-fence` output ('' when unknown).
 */
export async function auditFence(engine: Engine, ctx: StepContext, sw: Switched, notes: Note[], roles: Roles = CUTOVER_ROLES): Promise<string> {
  const r = await engine.switch.writesAfterFence(sw.fence, sw.finalPos);
  if (r.count === undefined) notes.push(sw.fence.mode === 'shutdown' ? info(r.detail) : warning(r.detail));
  else if (r.count > 0) {
    notes.push(warning(`WRITES AFTER THE FENCE: ${r.detail}. Compare them with the new primary and apply what is missing there.`));
    ctx.log.warn(`${r.count} transaction(s) were written on ${roles.from} after the fence (first ${r.first}): they are not on ${roles.to}`);
  }
  return r.count === undefined ? '' : String(r.count);
}
