/** Runs dist/index.js the way the Actions runner runs a step: INPUT_* environment, output and summary files. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inputsFor, outputsFor, type StepName } from '../../src/inputs.js';

export interface DistRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Parses a GITHUB_OUTPUT file (`name<<DELIMITER` blocks, or `name=value` lines). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
      out[m[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

export interface DistRunOptions {
  /** More environment, e.g. ZDM_FAILPOINT. */
  env?: Record<string, string>;
  /** Kills the step's whole process group, as a runner crash would, once its output matches. */
  killWhen?: RegExp;
}

export async function runDistStep(step: StepName, given: Record<string, string>, opts: DistRunOptions = {}): Promise<DistRun> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'zdm-runner-'));
  const outFile = path.join(dir, 'output');
  const summaryFile = path.join(dir, 'summary');
  await fs.writeFile(outFile, '');
  await fs.writeFile(summaryFile, '');
  // The runner passes every input, with action.yml defaults applied; here the definition's defaults.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    GITHUB_OUTPUT: outFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_ACTIONS: 'true',
    INPUT_STEP: step,
    ...(process.env.ZDM_STATE_DIR ? { ZDM_STATE_DIR: process.env.ZDM_STATE_DIR } : {}),
    ...opts.env,
  };
  for (const def of inputsFor(step)) env[`INPUT_${def.name.toUpperCase()}`] = given[def.name] ?? def.default ?? '';
  // No GitHub API here: the approval gate has its own test against a stand-in (test/integration/approval.test.ts).
  if (inputsFor(step).some((d) => d.name === 'require-approval')) env['INPUT_REQUIRE-APPROVAL'] = given['require-approval'] ?? 'false';
  const entry = path.resolve('dist/index.js');
  try {
    return await new Promise<DistRun>((resolve, reject) => {
      // Its own process group, so that a kill takes the step's children (backup pipelines) with it.
      const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: Boolean(opts.killWhen) });
      let stdout = '';
      let stderr = '';
      let killed = false;
      const maybeKill = () => {
        if (!opts.killWhen || killed || !opts.killWhen.test(stdout + stderr)) return;
        killed = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      };
      child.stdout.on('data', (c) => {
        stdout += c;
        maybeKill();
      });
      child.stderr.on('data', (c) => {
        stderr += c;
        maybeKill();
      });
      child.on('error', reject);
      child.on('close', async (code, signal) => {
        const outputs = parseOutputFile(await fs.readFile(outFile, 'utf8'));
        const drift = outputDrift(step, outputs);
        if (drift) return reject(new Error(drift));
        resolve({
          code: code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1),
          stdout,
          stderr,
          outputs,
          summary: await fs.readFile(summaryFile, 'utf8'),
        });
      });
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * A step that sets outputs sets exactly those its definition declares (src/inputs.ts OUTPUTS): the
 * type check shows it for each step's code, this shows it for what really reaches the runner.
 */
export function outputDrift(step: StepName, outputs: Record<string, string>): string | undefined {
  const set = Object.keys(outputs);
  if (set.length === 0) return undefined;
  const declared = outputsFor(step).map((o) => o.name);
  const undeclared = set.filter((n) => !declared.includes(n));
  // The audit record's path is set once it is written (src/state/audit.ts): a step may end without it.
  const missing = declared.filter((n) => !set.includes(n) && n !== 'audit-record');
  if (undeclared.length + missing.length === 0) return undefined;
  return `${step} set outputs that do not match its declared ones: undeclared ${JSON.stringify(undeclared)}, missing ${JSON.stringify(missing)}`;
}

/** Everything a step showed: logs (less the `::add-mask::` commands the runner consumes), summary and outputs. */
export function shownText(run: DistRun): string {
  return (
    run.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n') +
    run.stderr +
    run.summary +
    JSON.stringify(run.outputs)
  );
}

/** Fails with the step's output when it did not exit 0, and when any of `secrets` shows in what it printed, summarised or output. */
export function expectOk(run: DistRun, secrets: string[], what = 'step'): DistRun {
  if (run.code !== 0) throw new Error(`${what} failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  const shown = shownText(run);
  for (const secret of secrets) if (secret && shown.includes(secret)) throw new Error(`${what} printed a secret`);
  return run;
}

/** Runs `zdm rehearse` from the bundle with a small data set; returns what it printed and its JSON report. */
export function rehearseDist(dir: string, args: string[]) {
  const report = path.join(dir, `${args.join('_').replace(/[^a-z0-9]+/gi, '_')}.json`);
  const r = spawnSync(process.execPath, ['dist/index.js', 'rehearse', '--size-mb', '8', '--report', report, ...args], { encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) throw new Error(`rehearse ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  return { out: r.stdout, json: JSON.parse(readFileSync(report, 'utf8')) };
}
