/**
 * The pooler-held switch: the application's requests wait in its poolers instead of failing while
 * the primary changes. In this order: resume what a run that died mid-switch left paused; look for
 * long transactions (they would hold PAUSE) and stop or go on as long-transaction-policy says; PAUSE
 * every pooler with a deadline (on timeout: RESUME them all and abort, nothing fenced, the source
 * keeps taking writes); the switch itself; repoint every pooler; RESUME every pooler, on every exit path.
 */
import type { StepContext } from '../engines/engine.js';
import { SafetyError, UserError, describeError } from '../errors.js';
import { failpoint } from '../failpoint.js';
import type { Address, Pooler } from './pooler.js';

export interface HoldOptions {
  pauseTimeoutMs: number;
  longTransactionSeconds: number;
  longTransactionPolicy: 'wait' | 'abort';
}

export interface Held<T> {
  result: T;
  /** From the moment PAUSE was sent to the moment every pooler was resumed; undefined when none can hold requests (HAProxy). */
  heldMs: number | undefined;
  /** What was repointed, one line per pooler. */
  repointed: string[];
  /** After a switch that was done: what failed (repoint, RESUME), each saying what to do by hand. */
  problems: string[];
}

type Mark = (what: string, at?: number) => void;

/** A paused pooler found before the switch was left so by an earlier run that died: give the application its requests back. */
export async function resumeLeftovers(poolers: Pooler[], ctx: StepContext, mark: Mark): Promise<void> {
  for (const p of poolers)
    if (await isPaused(p)) {
      ctx.log.warn(`${p.label} was paused: an earlier zdm run died mid-switch. Resuming it before anything else.`);
      await p.resume();
      mark(`${p.label} resumed (left paused by an earlier run)`);
    }
}

async function isPaused(p: Pooler): Promise<boolean> {
  try {
    return await p.isPaused();
  } catch (e) {
    throw new UserError(
      `${p.label}: cannot use its admin console (${describeError(e)}). Nothing was changed. Check pooler-admin-urls and that the runner reaches the pooler (preflight checks it), or set pooler: none.`,
      { cause: e },
    );
  }
}

async function longTransactionGate(poolers: Pooler[], ctx: StepContext, o: HoldOptions): Promise<void> {
  const found = (await Promise.all(poolers.map((p) => p.findLongTransactions(o.longTransactionSeconds)))).flat();
  if (!found.length) return;
  const list = found.map((t) => `  - ${t.detail}`).join('\n');
  if (o.longTransactionPolicy === 'abort')
    throw new SafetyError(
      `${found.length} transaction(s) open for ${o.longTransactionSeconds} s or more through the pooler would hold PAUSE (and the application with it):\n${list}\nNothing was paused or fenced. End them (or wait for them), then run cutover again; or set long-transaction-policy: wait to let PAUSE wait up to pause-timeout-seconds for them.`,
    );
  ctx.log.warn(`${found.length} long transaction(s) open; PAUSE waits up to ${o.pauseTimeoutMs / 1000} s for them (long-transaction-policy: wait):\n${list}`);
}

async function resumeAll(poolers: Pooler[]): Promise<string[]> {
  const failed: string[] = [];
  await Promise.all(poolers.map((p) => p.resume().catch((e) => failed.push(`${p.label}: ${describeError(e)} — run RESUME on its admin console by hand`))));
  return failed;
}

async function pauseAll(poolers: Pooler[], o: HoldOptions): Promise<void> {
  const results = await Promise.allSettled(poolers.map((p) => p.pause(o.pauseTimeoutMs)));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${poolers[i].label}: ${describeError(r.reason)}`] : []));
  if (!failed.length) return;
  const notResumed = await resumeAll(poolers);
  throw new SafetyError(
    `PAUSE did not complete on every pooler, so nothing was fenced: ${failed.join('; ')}. ${notResumed.length ? `Resuming failed: ${notResumed.join('; ')}` : 'Every pooler was resumed: the source keeps taking writes.'} Find the transactions that stay open (SHOW SERVERS on the pooler's admin console; pg_stat_activity on the source), end them, then run cutover again; or raise pause-timeout-seconds.`,
  );
}

/**
 * Runs `doSwitch` with every pooler paused, then points them at `to()` (read after the switch, the
 * new primary) and resumes them. Resumes on every exit path. Once the switch is done (the target
 * promoted) nothing here throws: a failed repoint or resume comes back in `problems`, so that the
 * promotion is still reported as one; before it, a failed resume is logged after the switch's error.
 */
export async function holdPoolers<T>(
  poolers: Pooler[],
  ctx: StepContext,
  mark: Mark,
  o: HoldOptions,
  doSwitch: () => Promise<T>,
  to: () => Address,
): Promise<Held<T>> {
  await resumeLeftovers(poolers, ctx, mark);
  await longTransactionGate(poolers, ctx, o);
  const pausedAt = Date.now();
  await pauseAll(poolers, o);
  const holding = poolers.filter((p) => p.holds !== false).length;
  if (holding) mark(`${holding} pooler(s) paused: requests wait in the pooler`, pausedAt);
  failpoint('cutover:pooler-paused');
  const repointed: string[] = [];
  let failure: unknown;
  let result: T | undefined;
  let switched = false;
  try {
    result = await doSwitch();
    switched = true;
    const target = to();
    for (const p of poolers) {
      const what = await p.repoint(target);
      repointed.push(what);
      mark(what);
    }
  } catch (e) {
    failure = e;
  }
  const notResumed = await resumeAll(poolers);
  const heldMs = Date.now() - pausedAt;
  if (!notResumed.length && holding) mark(`${holding} pooler(s) resumed after ${heldMs} ms held`);
  const resumeFailed = notResumed.length ? `RESUME failed, the application's requests stay held: ${notResumed.join('; ')}` : undefined;
  if (switched) {
    const problems: string[] = [];
    if (failure !== undefined)
      problems.push(
        `repointing the poolers failed: ${describeError(failure)}. Repointed: ${repointed.join('; ') || 'none'}. Point the others at ${to().host}:${to().port} by hand (the entry's host and port in the configuration file, then RELOAD)`,
      );
    if (resumeFailed) problems.push(resumeFailed);
    return { result: result as T, heldMs: holding ? heldMs : undefined, repointed, problems };
  }
  if (resumeFailed) ctx.log.warn(resumeFailed);
  throw failure;
}
