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

  it('prepare.yml runs preflight before everything', () => {
    const wf = parse(readFileSync('examples/workflows/prepare.yml', 'utf8')) as Workflow;
    const needs = (job: string) => [wf.jobs[job].needs ?? []].flat();
    const upstream = (job: string): string[] => needs(job).flatMap((n) => [n, ...upstream(n)]);
    expect(needs('preflight')).toEqual([]);
    for (const job of Object.keys(wf.jobs)) if (job !== 'preflight') expect(upstream(job), job).toContain('preflight');
  });

  it('the migration workflows hand no zdm step an earlier job output (each run reads the migration record), and every job has a timeout', () => {
    for (const file of ['prepare.yml', 'cutover.yml', 'rollback.yml', 'finalize.yml', 'abort.yml', 'watch.yml']) {
      const wf = parse(readFileSync(`examples/workflows/${file}`, 'utf8')) as Workflow & {
        jobs: Record<string, { 'timeout-minutes'?: number }>;
      };
      for (const [job, j] of Object.entries(wf.jobs)) {
        expect(j['timeout-minutes'], `${file} ${job}: timeout-minutes`).toBeGreaterThan(0);
        for (const step of j.steps ?? [])
          if (step.uses?.startsWith('your-org/zdm/'))
            for (const [k, v] of Object.entries(step.with ?? {})) expect(String(v), `${file} ${job} ${k}`).not.toMatch(/needs\./);
      }
    }
  });
});
