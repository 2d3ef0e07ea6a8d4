/**
 * abort: abandons a migration at any phase before promotion. It undoes, on both sides, what the
 * migration left: tune-target's settings on the target (from the record or the tuning input), the
 * replication (slots, publication, subscription, the target's replication settings and stored
 * password), the heartbeat table and its switch rows on the source, and the replication tunnel.
 * The target is left stopped, or running on its own (abort-target). It needs no approval (a disk
 * may be filling), and a second run changes nothing. After promotion it refuses: rollback is the
 * way back then.
 */
import { openEngine, tuningOf } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { SafetyError, UserError } from '../errors.js';
import { stopSupervisedTunnel } from '../hosts/supervised-tunnel.js';
import { replicationTunnelName } from '../hosts/transport.js';
import { heading } from '../report/markdown.js';
import { phaseAt, PROMOTED_PHASES, type MigrationRecord } from '../state/record.js';
import { restoreTuning } from './revert.js';
import type { StepResult } from './step.js';

/** Whether tune-target's settings were already put back (revert, or an earlier abort) since it last ran. */
function tuningRestored(rec: MigrationRecord | undefined): boolean {
  if (!rec) return false;
  const tuned = phaseAt(rec, 'tuned') ?? '';
  return rec.events.some((e) => (e.step === 'revert' || e.step === 'abort') && e.result === 'ok' && e.at > tuned);
}

function refusePromoted(rec: MigrationRecord | undefined, detail: string | undefined): void {
  const promotedAt = rec && phaseAt(rec, 'promoted');
  if (rec?.phase && (PROMOTED_PHASES.includes(rec.phase) || promotedAt))
    throw new UserError(
      `the migration ${rec.id} is past promotion (promoted ${promotedAt ?? '?'}, phase ${rec.phase} now): the target has taken the application's writes, and abort would lose them. ` +
        'The way back is rollback (after a cutover with reverse-replication), then finalize. Nothing was changed.',
    );
  if (detail)
    throw new SafetyError(
      `the target looks promoted and the source is not writable (${detail}): abort only abandons a migration before promotion. If a cutover was interrupted, run cutover again (it continues, or gives the source its writes back); after a cutover, the way back is rollback. Nothing was changed.`,
    );
}

export async function abort(ctx: StepContext): Promise<StepResult<'abort'>> {
  const { inputs, log, journal } = ctx;
  const rec = journal?.record;
  refusePromoted(rec, undefined);
  const removed: string[] = [];
  const engine = openEngine(ctx);
  try {
    const state = await engine.replication.migrationState();
    ctx.journal?.checkAgainst(state, ctx.log);
    log.info(`before abort: ${state.detail}`);
    if (rec?.phase !== 'aborted' && state.target === 'primary' && state.seededByZdm && state.source !== 'writable') refusePromoted(undefined, state.detail);
    if (state.source === 'fenced')
      throw new SafetyError(
        `the source is fenced (${state.detail}): an interrupted cutover left it so. Run cutover again: it continues from the servers' real state, or gives the source its writes back when it cannot finish. Nothing was changed.`,
      );
    const plan = tuningOf(ctx);
    if (plan && tuningRestored(rec)) log.info("tune-target's settings were already restored on the target: left as they are");
    else if (plan && state.target === 'unreachable')
      log.warn("the target is not reachable: tune-target's settings on it are left; run abort again once it is up, or revert then");
    else if (plan) {
      const done = await restoreTuning(ctx, engine, plan);
      if (done.restored.length) removed.push(`tune-target's settings restored on the target (${done.restored.join(', ')})`);
    } else log.info('no tune-target plan in the migration record nor in the tuning input: no target setting to restore');
    await log.group('Removing what the migration left on both sides', async () => {
      for (const line of await engine.lifecycle.abandon(inputs.abortTarget)) {
        log.info(line);
        removed.push(line);
      }
    });
    // The tunnel seed-replica started, named in the record; else the one these inputs name.
    const tunnelPort = rec?.made.tunnelPort ?? inputs.replicationTunnelPort;
    if (await stopSupervisedTunnel(inputs.tunnelDir, replicationTunnelName({ replicationTunnelPort: tunnelPort })))
      removed.push(`the replication tunnel (port ${tunnelPort}) stopped`);
  } finally {
    await engine.close();
  }
  const path = journal ? journal.store.pathOf(journal.record.id) : '';
  log.info(removed.length ? `abort done: ${removed.length} thing(s) removed or restored` : 'abort: nothing was left to remove (already aborted)');
  const summary =
    heading('zdm abort') +
    (removed.length ? removed.map((r) => `- ${r}`).join('\n') + '\n' : 'Nothing was left to remove: the migration was already abandoned.\n') +
    (path ? `\nMigration record: \`${path}\` (phase aborted).\n` : '');
  return { outputs: { removed: removed.join(', '), record: path }, summary };
}
