/**
 * Checks as data, in the spirit of Spirit's pkg/check: every check is a small unit with an id, a
 * title, the scopes it runs in and a function. Which checks a step runs is chosen by scope, never
 * by their names; every check reports in one result shape.
 */
import { describeError } from '../errors.js';

/**
 * When a check runs. `seed`: what seed-replica enforces before it changes anything (preflight runs
 * these too, so that what preflight promises is what seed-replica enforces); `preflight`: only in
 * the preflight checklist; `cutover`: before the fence of cutover and rollback (a failed one refuses the
 * switch, nothing changed: the lag check, and an engine's own units of that scope); `post-cutover`: on
 * the new primary.
 */
export type Scope = 'preflight' | 'seed' | 'cutover' | 'post-cutover';

/** `skip`: the check does not apply here (another check already failed, or the setup does not need it). */
export type Status = 'ok' | 'warn' | 'fail' | 'skip';

/** The one result shape of every check. */
export interface CheckResult {
  id: string;
  /** The check's title (a check about several things, one pooler each, names each row). */
  check: string;
  status: Status;
  detail: string;
}

/** What a check's run returns: its status and detail; `check` replaces the title for a row of its own. */
export interface Verdict {
  status: Status;
  detail: string;
  check?: string;
}

export interface CheckUnit<C = void> {
  /** Unique within its registry; stable (kebab-case). */
  readonly id: string;
  /** The row's name in logs, summaries and the `checks` outputs. */
  readonly title: string;
  readonly scopes: readonly Scope[];
  run(ctx: C): Promise<Verdict | Verdict[]>;
}

export const ok = (detail: string): Verdict => ({ status: 'ok', detail });
export const fail = (detail: string): Verdict => ({ status: 'fail', detail });
export const warn = (detail: string): Verdict => ({ status: 'warn', detail });
export const skip = (detail: string): Verdict => ({ status: 'skip', detail });
/** ok or fail, by a condition. */
export const verdict = (passed: boolean, detail: string): Verdict => ({ status: passed ? 'ok' : 'fail', detail });

/** The units that run in any of `scopes`, in registry order. */
export function inScope<C>(units: readonly CheckUnit<C>[], ...scopes: Scope[]): CheckUnit<C>[] {
  return units.filter((u) => u.scopes.some((s) => scopes.includes(s)));
}

/** A registry's units with their context given: what an engine hands to the steps. */
export function bind<C>(units: readonly CheckUnit<C>[], ctx: C): CheckUnit[] {
  return units.map((u) => ({ id: u.id, title: u.title, scopes: u.scopes, run: () => u.run(ctx) }));
}

export interface RunOptions {
  /**
   * A check that throws (a server lost, a query refused): `fail` reports it as the check's failed
   * row and goes on; `throw` lets the error end the run as it is (seed-replica: the user's first
   * answer is the error itself, e.g. "source-url: cannot reach ...").
   */
  onError: 'fail' | 'throw';
  /** Called with each result as it is known (a checklist logs it). */
  onResult?: (r: CheckResult) => void;
}

/** Runs the units one after the other (they share connections), in order. */
export async function runChecks(units: readonly CheckUnit[], opts: RunOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const u of units) {
    let verdicts: Verdict[];
    try {
      const v = await u.run();
      verdicts = Array.isArray(v) ? v : [v];
    } catch (e) {
      if (opts.onError === 'throw') throw e;
      verdicts = [fail(describeError(e))];
    }
    for (const v of verdicts) {
      const r: CheckResult = { id: u.id, check: v.check ?? u.title, status: v.status, detail: v.detail };
      results.push(r);
      opts.onResult?.(r);
    }
  }
  return results;
}
