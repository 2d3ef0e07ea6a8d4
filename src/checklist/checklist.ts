/** Checklist: the rows preflight and post-cutover report, their summary table and the failure they add up to. */
import { runChecks, type CheckResult, type CheckUnit, type Status } from '../checks/check.js';
import { StepFailed, type StepResult } from '../step-result.js';
import type { Log } from '../log.js';
import { heading, table } from '../report/markdown.js';

export type { CheckResult, Status };

const MARK: Record<Status, string> = { ok: '✅ ok', warn: '⚠️ warn', fail: '❌ fail', skip: '➖ skip' };
export const LOG_MARK: Record<Status, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** A row id for a check without a unit of its own: its title in kebab-case. */
const idOf = (title: string) =>
  title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

export class Checklist {
  /** Every result, skipped ones included; the summary and the `checks` output leave skipped ones out. */
  readonly results: CheckResult[] = [];
  constructor(private readonly log: Log) {}

  /** The rows shown: what was checked. */
  get rows(): CheckResult[] {
    return this.results.filter((r) => r.status !== 'skip');
  }

  add(check: string, status: Status, detail: string, id = idOf(check)): void {
    this.addResult({ id, check, status, detail });
  }

  addResult(r: CheckResult): void {
    this.results.push(r);
    this.log.info(`${LOG_MARK[r.status]} ${r.check}: ${r.detail}`);
  }

  /** Runs the units in order, a row each as it is known; a unit that throws is its own failed row. */
  async run(units: readonly CheckUnit[]): Promise<CheckResult[]> {
    return runChecks(units, { onError: 'fail', onResult: (r) => this.addResult(r) });
  }

  count(status: Status): number {
    return this.rows.filter((r) => r.status === status).length;
  }

  markdown(title: string, intro = ''): string {
    const verdict = this.count('fail')
      ? `**${this.count('fail')} check(s) failed.**`
      : this.count('warn')
        ? `**All checks passed; ${this.count('warn')} warning(s).**`
        : '**All checks passed.**';
    return (
      heading(title) +
      (intro ? intro + '\n\n' : '') +
      verdict +
      '\n\n' +
      table(
        ['check', 'result', 'detail'],
        this.rows.map((r) => [r.check, MARK[r.status], r.detail]),
      )
    );
  }

  /** The `checks` output: `{check, status, detail}` per row, as documented. */
  json(): string {
    return JSON.stringify(this.rows.map(({ check, status, detail }) => ({ check, status, detail })));
  }

  /** Throws, with the step's result attached (outputs and summary still reach the job), when any check failed: the message lists each with its fix. */
  throwIfFailed(what: string, result: StepResult): void {
    const failed = this.rows.filter((r) => r.status === 'fail');
    if (failed.length === 0) return;
    throw new StepFailed(`${what}: ${failed.length} check(s) failed:\n${failed.map((r) => `- ${r.check}: ${r.detail}`).join('\n')}`, result);
  }
}
