/** Checklist: the rows preflight and post-cutover report, their summary table and the failure they add up to. */
import type { Check } from '../engines/engine.js';
import { StepFailed, type StepResult } from '../step-result.js';
import type { Log } from '../log.js';
import { heading, table } from '../report/markdown.js';

export type Status = 'ok' | 'warn' | 'fail';

export interface ChecklistRow {
  check: string;
  status: Status;
  detail: string;
}

const MARK: Record<Status, string> = { ok: '✅ ok', warn: '⚠️ warn', fail: '❌ fail' };
const LOG_MARK: Record<Status, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export class Checklist {
  readonly rows: ChecklistRow[] = [];
  constructor(private readonly log: Log) {}

  add(check: string, status: Status, detail: string): void {
    this.rows.push({ check, status, detail });
    this.log.info(`${LOG_MARK[status]} ${check}: ${detail}`);
  }

  /** Rows from an engine's checks: a check that did not pass fails; one that passed with a warning warns. */
  addChecks(checks: Check[]): void {
    for (const c of checks) this.add(c.name, c.ok ? (c.warn ? 'warn' : 'ok') : 'fail', c.detail);
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

  json(): string {
    return JSON.stringify(this.rows);
  }

  /** Throws, with the step's result attached (outputs and summary still reach the job), when any check failed: the message lists each with its fix. */
  throwIfFailed(what: string, result: StepResult): void {
    const failed = this.rows.filter((r) => r.status === 'fail');
    if (failed.length === 0) return;
    throw new StepFailed(`${what}: ${failed.length} check(s) failed:\n${failed.map((r) => `- ${r.check}: ${r.detail}`).join('\n')}`, result);
  }
}
