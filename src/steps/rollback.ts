/**
 * rollback: after a cutover with reverse-replication, the same fenced switch the other way round.
 * The engine is opened on swapped roles: the new primary is "the source" that gets fenced, the
 * old source (a replica of it since cutover) is "the target" that must prove it applied the new
 * primary's last position before it is promoted. Zero lost writes, by the same proof as cutover.
 */
import { openEngine } from '../engines/index.js';
import type { Engine, StepContext } from '../engines/engine.js';
import { InputError, SafetyError, UserError, describeError } from '../errors.js';
import { lastLines } from '../hosts/host.js';
import type { Inputs } from '../inputs.js';
import { heading, table } from '../report/markdown.js';
import { fenceAndPromote, lagGate, Timeline, WORDED, worded, type Roles } from './switchover.js';
import type { StepResult } from './step.js';

const ROLES: Roles = {
  step: 'rollback',
  from: 'the new primary',
  to: 'the old source',
  retry: 'Wait until the old source has caught up with the new primary, then rollback again.',
  words: (t) => userWords(t),
};

/** The step's context with source and target swapped: what the engine fences and what it promotes. */
export function reversedContext(ctx: StepContext): StepContext {
  const i = ctx.inputs;
  const inputs: Inputs = {
    ...i,
    sourceUrl: i.targetUrl,
    targetUrl: i.sourceUrl!,
    sourceStopCommand: i.targetStopCommand,
    sourceStartCommand: i.targetStartCommand,
    targetStopCommand: '',
    targetStartCommand: '',
    replicationSlot: i.reverseReplicationSlot,
    sourceSshHost: '',
    tuning: undefined,
  };
  return { ...ctx, inputs, sourceHost: ctx.targetHost, targetHost: ctx.sourceHost, ssh: undefined };
}

/**
 * The engine words things from its own (swapped) view; the user's inputs and servers are named the
 * other way round. One pass, so that no word is translated twice.
 */
const FROM_ENGINE: Record<string, string> = {
  'source-url': 'target-url',
  'target-url': 'source-url',
  'source-stop-command': 'target-stop-command',
  'source-start-command': 'target-start-command',
  'the source': 'the new primary',
  'the target': 'the old source',
  'the new primary': 'the old source (primary again)',
  'the old source': 'the migration target',
};
const ENGINE_WORDS = new RegExp(`\\b(${Object.keys(FROM_ENGINE).join('|')})\\b`, 'g');

export function userWords(engineText: string): string {
  return engineText.replace(ENGINE_WORDS, (w) => FROM_ENGINE[w]);
}

/** Refuses, before anything changes, when the old source is not a healthy replica of the new primary. */
async function reverseRunning(engine: Engine): Promise<void> {
  const s = await engine.measureLag().catch((e: unknown) => {
    throw worded(
      new SafetyError(
        `rollback refused: cannot see reverse replication (${userWords(describeError(e))}). Nothing was changed; the new primary keeps its writes. A finalized migration has no way back.`,
        { cause: e },
      ),
    );
  });
  if (s.streaming && !s.fatal) return;
  throw worded(
    new SafetyError(
      `rollback refused: the old source is not replicating from the new primary (${userWords(s.detail)}${s.fatal && s.streaming ? `; ${userWords(s.fatal)}` : ''}). Reverse replication was not set up (cutover with reverse-replication: true) or is broken, so the old source may miss writes the new primary acknowledged. Nothing was changed; the new primary keeps its writes.`,
    ),
  );
}

export async function rollback(ctx: StepContext): Promise<StepResult> {
  const { inputs } = ctx;
  if (inputs.fence === 'shutdown' && !inputs.targetStopCommand) {
    throw new InputError(
      'target-stop-command',
      'is required by rollback with fence: shutdown (the PostgreSQL default): the command that fast-stops the new primary, or choose fence: read-only',
    );
  }
  try {
    return await switchBack(ctx);
  } catch (e) {
    // Messages of the shared switch already use the user's words; the engine's own do not.
    if (e instanceof UserError && !WORDED.has(e)) e.message = userWords(e.message);
    throw e;
  }
}

async function switchBack(ctx: StepContext): Promise<StepResult> {
  const { inputs, log } = ctx;
  const back = reversedContext(ctx);
  const engine = openEngine(back);
  const tl = new Timeline(back);
  try {
    await reverseRunning(engine);
    const lag = await lagGate(engine, back, ROLES);
    tl.mark(`lag gate passed: ${lag}`);
    const { fence, finalPos, promotedAt } = await fenceAndPromote(engine, back, tl, [], ROLES);
    const writeBlockedMs = promotedAt - fence.startedAt;
    log.info(`write-blocked window of the rollback: ${writeBlockedMs} ms`);

    const endpoint = engine.endpoint();
    const notes: string[] = [];
    if (inputs.onPromotedCommand) {
      const r = await ctx.runnerHost.shell(inputs.onPromotedCommand, { env: { ZDM_ENDPOINT: endpoint }, timeoutMs: 300_000 });
      if (r.code !== 0)
        notes.push(
          `WARNING: on-promoted-command failed (exit ${r.code}): ${lastLines(r.stderr || r.stdout)}. The old source IS the primary again: point the application at ${endpoint} yourself.`,
        );
      else tl.mark('on-promoted-command done');
    }
    notes.push(...(await engine.cleanupAfterPromotion()).map(userWords));
    notes.push(
      fence.mode === 'shutdown'
        ? 'the migration target stays stopped (fenced). To migrate again, run seed-replica anew.'
        : 'the migration target stays read-only and replicates from nothing. To migrate again, run seed-replica anew.',
    );
    for (const n of notes) (n.startsWith('WARNING') ? log.warn : log.info).call(log, n);
    const summary =
      heading('zdm rollback') +
      `**Write-blocked window: ${writeBlockedMs} ms** (fence on the new primary: ${fence.mode}). Primary again: \`${endpoint}\`.\n\n` +
      table(['time', 'event'], tl.rows()) +
      (notes.length ? '\n' + notes.map((n) => `- ${n}`).join('\n') + '\n' : '');
    return { outputs: { endpoint, 'write-blocked-ms': String(writeBlockedMs), 'final-position': finalPos, fence: fence.mode }, summary };
  } finally {
    await engine.close();
  }
}
