/**
 * verify: prove that the target holds the same rows as the source, table by table, in primary-key
 * chunks whose checksums the servers compute. Fails, naming tables and key ranges, on any difference,
 * and never reports as verified what it did not compare.
 */
import { openEngine } from '../engines/index.js';
import type { StepContext } from '../engines/engine.js';
import { SafetyError } from '../errors.js';
import { narrowedTo, parseTableFilter } from '../verify/filter.js';
import { failureMessage, reportJson, summaryMarkdown, verdictOf } from '../verify/report.js';
import { LagThrottle } from '../verify/throttle.js';
import { TableWalker } from '../verify/walk.js';
import { ChecksumDigest } from '../verify/digest.js';
import { StepFailed, type StepResult } from './step.js';

/** How long the target may take to apply a position the source reached (online rechecks, strict start). */
const POSITION_WAIT_MS = 60_000;

export async function verify(ctx: StepContext): Promise<StepResult<'verify'>> {
  const { inputs, log } = ctx;
  const chosen = parseTableFilter(inputs.verifyTables);
  // A PostgreSQL logical migration carried only `tables` (db.schema.table names here, schema.table there).
  const filter = inputs.engine === 'postgres' && inputs.tables.trim() ? narrowedTo(chosen, parseTableFilter(inputs.tables, 'tables')) : chosen;
  const engine = openEngine(ctx);
  const digest = new ChecksumDigest();
  const v = digest.wrap(engine.verify.verifier());
  try {
    const replicates = await v.targetReplicates();
    log.info(
      `verify (${inputs.verifyMode}): ${filter.description}, chunks of ${inputs.chunkRows} rows; the target ${replicates ? 'replicates from the source' : 'is not a replica: no positions to wait for'}`,
    );
    if (inputs.verifyMode === 'strict' && replicates) {
      // Strict compares once: the target must hold everything the source has before the first chunk.
      const position = await v.sourcePosition();
      if (!(await v.waitApplied(position, POSITION_WAIT_MS))) {
        throw new SafetyError(
          `strict mode: the target did not apply the source's position ${position} within ${POSITION_WAIT_MS / 1000} s, so a comparison now would report differences that are only lag. Block writes on the source (cutover) or use verify-mode: online.`,
        );
      }
      log.info(`the target has applied the source's position ${position}`);
    }
    const throttle =
      inputs.verifyMode === 'online' && replicates && inputs.verifyMaxLagBytes > 0
        ? new LagThrottle(engine.replication, inputs.verifyMaxLagBytes, log)
        : undefined;
    const walk = await log.group('Comparing source and target', () =>
      new TableWalker(v, {
        mode: inputs.verifyMode,
        rechecks: inputs.rechecks,
        replicates,
        positionWaitMs: POSITION_WAIT_MS,
        chunkRows: inputs.chunkRows,
        timeBudgetSeconds: inputs.timeBudgetSeconds,
        filter,
        log,
        beforeChunk: throttle && (() => throttle.beforeChunk()),
      }).run(),
    );
    if (throttle?.pausedMs) log.info(`verify paused ${(throttle.pausedMs / 1000).toFixed(1)} s in all for the target to catch up`);
    const verdict = verdictOf(walk);
    const result: StepResult<'verify'> = {
      outputs: {
        ok: String(verdict.ok),
        mismatches: String(verdict.mismatches),
        'rows-compared': String(verdict.rowsCompared),
        report: reportJson(walk, verdict, inputs.verifyMode),
      },
      summary: summaryMarkdown(walk, verdict, inputs.verifyMode),
    };
    // For the audit record: what was compared, and a digest of the chunk checksums.
    await ctx.journal?.extra('verify', {
      at: new Date().toISOString(),
      mode: inputs.verifyMode,
      ok: verdict.ok,
      tables: walk.tables.length,
      rowsCompared: verdict.rowsCompared,
      mismatches: verdict.mismatches,
      checksums: digest.result(),
    });
    if (!verdict.ok) throw new StepFailed(failureMessage(walk, verdict), result);
    log.info(`verified: ${walk.tables.length} tables, ${verdict.rowsCompared} rows, no difference`);
    return result;
  } finally {
    await v.close();
    await engine.close();
  }
}
