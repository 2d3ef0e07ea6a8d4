/**
 * The application stand-in of a rehearsal: a steady write load that records every acknowledged
 * write, follows the primary from the source to the target (and back, after a rollback), and
 * measures, as a client sees it, the time from the last write acknowledged by one side to the
 * first one acknowledged by the other.
 */
export interface WriteTarget {
  label: 'source' | 'target';
  /** Opens a connection; returns a function that performs one write with the given sequence number. */
  connect(): Promise<{ write(seq: number): Promise<void>; close(): Promise<void> }>;
}

export interface WriteStats {
  acknowledged: number;
  failed: number;
  acknowledgedBy: { source: number; target: number };
  lastSourceAckAt?: number;
  firstTargetAckAt?: number;
  /** Client-side write-blocked window, when the writes moved from source to target. */
  clientBlockedMs?: number;
  ackedSeqs: number[];
  errors: Record<string, number>;
  /** Each time the acknowledging side changed: the client-side gap, and the counts before it. */
  switches: { from: WriteTarget['label']; to: WriteTarget['label']; gapMs: number; acknowledgedBefore: { source: number; target: number } }[];
}

export class WriteLoad {
  private running = false;
  private loop?: Promise<void>;
  readonly stats: WriteStats = { acknowledged: 0, failed: 0, acknowledgedBy: { source: 0, target: 0 }, ackedSeqs: [], errors: {}, switches: [] };
  private last?: { label: WriteTarget['label']; at: number };

  constructor(
    private readonly targets: WriteTarget[],
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<WriteStats> {
    this.running = false;
    await this.loop;
    const s = this.stats;
    if (s.lastSourceAckAt !== undefined && s.firstTargetAckAt !== undefined) s.clientBlockedMs = s.firstTargetAckAt - s.lastSourceAckAt;
    return s;
  }

  private async run(): Promise<void> {
    let index = 0;
    let seq = 0;
    let conn: Awaited<ReturnType<WriteTarget['connect']>> | undefined;
    const started = Date.now();
    let attempts = 0;
    while (this.running) {
      const due = Math.floor(((Date.now() - started) / 1000) * this.perSecond);
      if (attempts >= due) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      attempts++;
      const t = this.targets[index];
      try {
        conn ??= await withTimeout(t.connect(), 2000);
        const mySeq = ++seq;
        await withTimeout(conn.write(mySeq), 5000);
        const now = Date.now();
        if (this.last && this.last.label !== t.label)
          this.stats.switches.push({ from: this.last.label, to: t.label, gapMs: now - this.last.at, acknowledgedBefore: { ...this.stats.acknowledgedBy } });
        this.last = { label: t.label, at: now };
        this.stats.acknowledged++;
        this.stats.acknowledgedBy[t.label]++;
        this.stats.ackedSeqs.push(mySeq);
        if (t.label === 'source' && this.stats.firstTargetAckAt === undefined) this.stats.lastSourceAckAt = now;
        else this.stats.firstTargetAckAt ??= now;
      } catch (e) {
        this.stats.failed++;
        const key = String((e as Error).message)
          .replace(/\d+/g, 'N')
          .slice(0, 80);
        this.stats.errors[key] = (this.stats.errors[key] ?? 0) + 1;
        await conn?.close().catch(() => undefined);
        conn = undefined;
        // Like an application with a list of endpoints: try the next one.
        index = (index + 1) % this.targets.length;
        // Failed attempts do not count against the pace.
        attempts--;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    await conn?.close().catch(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
