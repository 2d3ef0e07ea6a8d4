/**
 * One bundle, two front doors: run by the Actions runner (no arguments, INPUT_STEP set) it is
 * the action; run with arguments it is the `zdm` command line.
 */
import { runAction } from './main.js';
import { runCli } from './cli.js';

const args = process.argv.slice(2);
if (args.length === 0 && process.env.INPUT_STEP !== undefined) {
  await runAction();
} else {
  process.exitCode = await runCli(args);
}
