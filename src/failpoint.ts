/**
 * Named crash points for the tests that kill a step midway and run it again: with
 * ZDM_FAILPOINT=<name> in the environment the process dies there at once (SIGKILL, no clean-up),
 * as when a runner crashes. Unset, which is always so outside those tests, it does nothing.
 */
export function failpoint(name: string): void {
  if (process.env.ZDM_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
