/** The example workflows use the actions the way their action.yml declares: known inputs only, every required one given. */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  jobs: Record<string, { needs?: string | string[]; steps?: Step[] }>;
}

const files = readdirSync('examples/workflows').filter((f) => f.endsWith('.yml'));

describe('example workflows', () => {
  for (const file of files) {
    it(`${file} passes only declared inputs and every required one`, () => {
      const wf = parse(readFileSync(`examples/workflows/${file}`, 'utf8')) as Workflow;
      for (const [job, j] of Object.entries(wf.jobs)) {
        for (const step of j.steps ?? []) {
          const m = /^your-org\/zdm\/actions\/([\w-]+)@/.exec(step.uses ?? '');
          if (!m) continue;
          const action = parse(readFileSync(`actions/${m[1]}/action.yml`, 'utf8')) as { inputs: Record<string, { required?: boolean }> };
          const given = Object.keys(step.with ?? {});
          for (const name of given) expect(Object.keys(action.inputs), `${file} ${job}: ${m[1]} has no input ${name}`).toContain(name);
          for (const [name, def] of Object.entries(action.inputs)) if (def.required) expect(given, `${file} ${job}: ${m[1]} needs ${name}`).toContain(name);
        }
      }
    });
  }

  it('migrate.yml runs preflight before everything and the post-cutover checklist after cutover', () => {
    const wf = parse(readFileSync('examples/workflows/migrate.yml', 'utf8')) as Workflow;
    const needs = (job: string) => [wf.jobs[job].needs ?? []].flat();
    const upstream = (job: string): string[] => needs(job).flatMap((n) => [n, ...upstream(n)]);
    expect(needs('preflight')).toEqual([]);
    for (const job of Object.keys(wf.jobs)) if (job !== 'preflight') expect(upstream(job), job).toContain('preflight');
    expect(upstream('post-cutover')).toContain('cutover');
  });
});
