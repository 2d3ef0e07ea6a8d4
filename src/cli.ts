/** The `zdm` command line: the same steps as the actions, and `zdm rehearse`. */
import { describeError, UserError } from './errors.js';
import { inputsFor, isStep, outputsFor, STEPS, type StepName } from './inputs.js';
import { TextLog } from './log.js';
import { runStep } from './run-step.js';
import { parseFlags } from './flags.js';
import { rehearseCommand, REHEARSE_HELP } from './rehearse/command.js';

export function envName(input: string): string {
  return 'ZDM_' + input.toUpperCase().replace(/-/g, '_');
}

function stepHelp(step: StepName): string {
  const lines = [`zdm ${step} [flags]`, '', 'Flags (or environment variables; prefer those for secrets):'];
  for (const d of inputsFor(step)) {
    lines.push(`  --${d.name}  (${envName(d.name)})${d.default ? ` [default: ${d.default}]` : ''}${d.secret ? ' [secret]' : ''}`);
    lines.push(`      ${d.description}`);
  }
  lines.push('', 'Prints its outputs as name=value lines:');
  for (const o of outputsFor(step)) lines.push(`  ${o.name}: ${o.description}`);
  return lines.join('\n');
}

const HELP = `zdm: move a live database to a new host with zero downtime, by replication.

Usage:
  zdm rehearse [--engine postgres] [--report FILE] ...   full local rehearsal on throwaway servers
  zdm <step> [flags]                                     run one step: ${STEPS.join(', ')}
  zdm <step> --help                                      the flags of a step

${REHEARSE_HELP}`;

export async function runCli(argv: string[], log = new TextLog()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(HELP + '\n');
      return command ? 0 : 2;
    }
    if (command === 'rehearse') return await rehearseCommand(rest, log);
    if (!isStep(command)) throw new UserError(`unknown command ${JSON.stringify(command)}. Commands: rehearse, ${STEPS.join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(stepHelp(command) + '\n');
      return 0;
    }
    const defs = inputsFor(command);
    const flags = parseFlags(
      rest,
      defs.map((d) => d.name),
    );
    for (const d of defs) {
      if (d.secret && flags.has(d.name))
        log.warn(`--${d.name} on the command line is visible to other users of this machine (ps); prefer the ${envName(d.name)} environment variable`);
    }
    const result = await runStep(command, (name) => flags.get(name) ?? process.env[envName(name)], log);
    for (const [k, v] of Object.entries(result.outputs)) process.stdout.write(`${k}=${v}\n`);
    return 0;
  } catch (e) {
    log.info(`zdm ${command}: error: ${describeError(e)}`);
    return 1;
  }
}
