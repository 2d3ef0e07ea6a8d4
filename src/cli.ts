/** The `zdm` command line: the same steps as the actions, and `zdm rehearse`. */
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { StepContext } from './engines/engine.js';
import { describeError, UserError } from './errors.js';
import { inputsFor, isStep, outputsFor, STEPS, type StepName } from './inputs.js';
import { TextLog } from './log.js';
import { runStep } from './run-step.js';
import { StepFailed } from './steps/step.js';
import { parseFlags } from './flags.js';
import { cliEnvName } from './hosts/child-env.js';
import { readTunnelStatus, runTunnelDaemon, stopSupervisedTunnel } from './hosts/supervised-tunnel.js';
import { rehearseCommand, REHEARSE_HELP } from './rehearse/command.js';

/** Inside a GitHub Actions job (`run: zdm cutover`), the step's summary goes to the job summary as the action's does. */
function writeSummary(summary: string): void {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (file && summary) appendFileSync(file, summary + '\n');
}

export const envName = cliEnvName;

/**
 * Outside Actions, a cutover or rollback switches the application's writes only once the user typed
 * the database's name (as `terraform apply` asks for yes), or passed --yes. With no terminal and no
 * --yes it refuses: a script must say so.
 */
function terminalConfirm(yes: boolean): NonNullable<StepContext['confirm']> {
  return async ({ step, database }) => {
    if (yes) return '--yes';
    if (!process.stdin.isTTY)
      throw new UserError(
        `${step} refused: it switches the application's writes and asks to type the database's name (${database}) to confirm, but there is no terminal (stdin is not a TTY). Pass --yes to confirm from a script. Nothing was changed.`,
      );
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`zdm ${step} switches the writes of ${database}. Type the database name (${database}) to go on: `);
      if (answer.trim() !== database)
        throw new UserError(`${step} not confirmed: you typed ${JSON.stringify(answer.trim())}, not ${JSON.stringify(database)}. Nothing was changed.`);
      return 'typed';
    } finally {
      rl.close();
    }
  };
}

function stepHelp(step: StepName): string {
  const lines = [`zdm ${step} [flags]`, '', 'Flags (or environment variables; prefer those for secrets):'];
  for (const d of inputsFor(step)) {
    lines.push(`  --${d.name}  (${envName(d.name)})${d.default ? ` [default: ${d.default}]` : ''}${d.secret ? ' [secret]' : ''}`);
    lines.push(`      ${d.description}`);
  }
  if (step === 'cutover' || step === 'rollback')
    lines.push('  --yes', "      Confirm the switch without typing the database's name (needed when stdin is not a terminal).");
  lines.push('', 'Prints its outputs as name=value lines:');
  for (const o of outputsFor(step)) lines.push(`  ${o.name}: ${o.description}`);
  return lines.join('\n');
}

const HELP = `zdm: move a live database to a new host with zero downtime, by replication.

Usage:
  zdm rehearse [--engine postgres] [--report FILE] ...   full local rehearsal on throwaway servers
  zdm <step> [flags]                                     run one step: ${STEPS.join(', ')}
  zdm <step> --help                                      the flags of a step
  zdm tunnel status|stop --name NAME [--dir DIR]         the supervised replication tunnel

${REHEARSE_HELP}`;

/** `zdm tunnel run --config FILE` (the supervised daemon), `status` and `stop` (--dir, --name). */
async function tunnelCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const f = parseFlags(rest, ['config', 'dir', 'name']);
  if (sub === 'run' && f.get('config')) {
    await runTunnelDaemon(f.get('config')!);
    return 0;
  }
  const dir = f.get('dir') ?? '/var/lib/zdm/tunnels';
  const name = f.get('name');
  if (!name || (sub !== 'status' && sub !== 'stop'))
    throw new UserError('usage: zdm tunnel status|stop --name NAME [--dir DIR], or zdm tunnel run --config FILE');
  if (sub === 'stop') {
    process.stdout.write((await stopSupervisedTunnel(dir, name)) ? `stopped ${name}\n` : `${name} was not running\n`);
    return 0;
  }
  const st = readTunnelStatus(dir, name);
  process.stdout.write(st ? JSON.stringify(st) + '\n' : `${name} is not running\n`);
  return st?.state === 'up' ? 0 : 1;
}

export async function runCli(argv: string[], log = new TextLog()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(HELP + '\n');
      return command ? 0 : 2;
    }
    if (command === 'rehearse') return await rehearseCommand(rest, log);
    if (command === 'tunnel') return await tunnelCommand(rest);
    if (!isStep(command)) throw new UserError(`unknown command ${JSON.stringify(command)}. Commands: rehearse, ${STEPS.join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(stepHelp(command) + '\n');
      return 0;
    }
    const defs = inputsFor(command);
    const switches = command === 'cutover' || command === 'rollback';
    const flags = parseFlags(
      rest,
      defs.map((d) => d.name),
      switches ? ['yes'] : [],
    );
    for (const d of defs) {
      if (d.secret && flags.has(d.name))
        log.warn(`--${d.name} on the command line is visible to other users of this machine (ps); prefer the ${envName(d.name)} environment variable`);
    }
    const overrides = switches ? { confirm: terminalConfirm(/^(true|yes|1)?$/i.test(flags.get('yes') ?? 'no')) } : {};
    const result = await runStep(command, (name) => flags.get(name) ?? process.env[envName(name)], log, overrides);
    for (const [k, v] of Object.entries(result.outputs)) process.stdout.write(`${k}=${v}\n`);
    writeSummary(result.summary);
    return 0;
  } catch (e) {
    // A step that failed after acting (a promotion whose aftermath failed) still reports its result.
    if (e instanceof StepFailed) {
      for (const [k, v] of Object.entries(e.result.outputs)) process.stdout.write(`${k}=${v}\n`);
      writeSummary(e.result.summary);
    }
    log.info(`zdm ${command}: error: ${describeError(e)}`);
    return 1;
  }
}
