/**
 * finalize: the user declares the migration final. The way back is torn down: the old source
 * stops replicating from the new primary (PostgreSQL: the old standby is stopped and loses its
 * connection settings; MySQL/MariaDB: RESET REPLICA ALL), leftover slots go, and any supervised
 * replication tunnel is stopped.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { stopReplicationTunnel } from '../hosts/transport.js';
import { heading } from '../report/markdown.js';
import { info, logNotes, notesMarkdown } from '../notes.js';
import type { StepResult } from './step.js';

export async function finalize(ctx: StepContext): Promise<StepResult<'finalize'>> {
  const engine = openEngine(ctx);
  try {
    const notes = await engine.reverse.teardown();
    if (ctx.inputs.sourceSshHost && (await stopReplicationTunnel(ctx.inputs))) notes.push(info('stopped the replication tunnel'));
    notes.push(info('the migration is final: rollback is no longer possible'));
    logNotes(ctx.log, notes);
    const summary = heading('zdm finalize') + `New primary: \`${engine.switch.endpoint()}\`.\n\n` + notesMarkdown(notes);
    return { outputs: { 'reverse-replication': 'removed' }, summary };
  } finally {
    await engine.close();
  }
}
