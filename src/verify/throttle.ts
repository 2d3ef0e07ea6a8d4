/**
 * LagThrottle: pauses verify between chunks while the replica is too far behind, the way
 * pt-table-checksum's --max-lag does, so that verify's reads never widen the gap it must close.
 */
import type { Replication } from '../engines/engine.js';
import { UserError } from '../errors.js';
import { formatBytes, Progress, type Log } from '../log.js';

const CHECK_EVERY_MS = 1000;

export class LagThrottle {
  private lastCheck = 0;
  /** Milliseconds spent paused, for the report. */
  pausedMs = 0;
  private readonly progress: Progress;

  constructor(
    private readonly engine: Pick<Replication, 'measureLag'>,
    private readonly maxLagBytes: number,
    log: Log,
    private readonly maxPauseMs = 600_000,
    private readonly pollMs = 500,
  ) {
    this.progress = new Progress(log);
  }

  /** Returns at once unless a lag reading (at most one a second) is above the bound; then waits for it to fall. */
  async beforeChunk(): Promise<void> {
    if (Date.now() - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = Date.now();
    const started = Date.now();
    for (let first = true; ; first = false) {
      const s = await this.engine.measureLag();
      if (s.fatal) throw new UserError(`replication cannot catch up, so verify cannot go on: ${s.fatal}`);
      if (s.bytes <= this.maxLagBytes) {
        if (!first) this.progress.report(`verify resumed: the target is ${formatBytes(s.bytes)} behind`, true);
        break;
      }
      this.progress.report(
        `verify paused: the target is ${formatBytes(s.bytes)} behind the source (verify-max-lag-bytes ${formatBytes(this.maxLagBytes)})`,
        first,
      );
      if (Date.now() - started > this.maxPauseMs) {
        throw new UserError(
          `verify paused for ${Math.round(this.maxPauseMs / 60_000)} min and the target is still ${formatBytes(s.bytes)} behind the source: let it catch up (await-lag-zero), raise verify-max-lag-bytes, or set it to 0 to verify without pausing`,
        );
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    this.pausedMs += Date.now() - started;
  }
}
