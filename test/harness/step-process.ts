/** Runs a zdm step from src/ as its own process, the way the runner (INPUT_* environment) or a terminal (zdm <step>) runs it. */
import { spawn } from 'node:child_process';

export interface StepProcess {
  /** Exit code, or undefined when the process had to be killed at the deadline. */
  code: number | undefined;
  output: string;
  seconds: number;
}

/** Runs `node src/index.ts ...args` with `env` added; kills it after `deadlineMs`, which the result then shows. */
export function runStepProcess(args: string[], env: Record<string, string>, deadlineMs = 60_000): Promise<StepProcess> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal === 'SIGKILL' ? undefined : (code ?? undefined), output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** The environment the Actions runner gives a step: INPUT_<NAME> for each input, hyphens kept. */
export function actionEnv(step: string, inputs: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { INPUT_STEP: step };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  return env;
}
