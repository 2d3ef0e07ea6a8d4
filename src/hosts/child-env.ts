/**
 * The environment of every process zdm starts (pg_basebackup, mariadb-backup, mbstream, the
 * user's commands): this process's, less the step's inputs. The runner hands a step its inputs
 * as INPUT_<NAME> variables and the CLI reads ZDM_<NAME> ones, secrets included (source-url,
 * replication-password); a child that inherited them would show them in /proc/<pid>/environ to
 * anyone running as the same user, and pass them on to everything it starts.
 */
import { INPUTS } from '../inputs.js';

/** Names the runner gives its own credentials; a child has no use for them. */
const RUNNER_SECRETS = new Set(['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL']);

/** The CLI's variable for an input: ZDM_SOURCE_URL for source-url. */
export function cliEnvName(input: string): string {
  return 'ZDM_' + input.toUpperCase().replace(/-/g, '_');
}

const CLI_INPUTS = new Set(INPUTS.map((d) => cliEnvName(d.name)));

/** Whether a variable carries a step input or a runner credential. */
export function isStepInput(name: string): boolean {
  return name.toUpperCase().startsWith('INPUT_') || CLI_INPUTS.has(name) || RUNNER_SECRETS.has(name);
}

/** `base` less the step's inputs, with `extra` (what zdm means the child to have) on top. */
export function childEnv(extra: NodeJS.ProcessEnv = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!isStepInput(k)) env[k] = v;
  return { ...env, ...extra };
}
