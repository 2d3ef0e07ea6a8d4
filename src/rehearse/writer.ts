/**
 * The application stand-in of a rehearsal: a steady write load that records every acknowledged
 * write, follows the primary from the source to the target (and back, after a rollback), and
 * measures, as a client sees it, the time from the last write acknowledged by one side to the
 * first one acknowledged by the other. A few clients write at once at a steady pace; each
 * request's latency counts from when a client sent it until a side acknowledged it: a request that
 * failed is retried (on the other endpoint) and counts until acknowledged. Not from when it was due:
 * on a loaded machine the clients fall behind the pace, and that backlog is the load generator's,
 * not the database's (dueAt is kept, for what the backlog was).
 */
export interface WriteTarget {
  label: 'source' | 'target';
  /** Opens a connection; returns a function that performs one write with the given sequence number. */
  connect(): Promise<{ write(seq: number): Promise<void>; close(): Promise<void> }>;
}

export interface WriteStats {
  acknowledged: number;
  /** Failed attempts (each failed request is retried, possibly many times). */
  failed: number;
  /** Requests that saw at least one error before a side acknowledged them. */
  failedRequests: number;
  acknowledgedBy: { source: number; target: number };
  lastSourceAckAt?: number;
  firstTargetAckAt?: number;
  /** Client-side write-blocked window, when the writes moved from source to target. */
  clientBlockedMs?: number;
  ackedSeqs: number[];
  errors: Record<string, number>;
  /** Each time the acknowledging side changed: the client-side gap, and the counts before it. */
  switches: { from: WriteTarget['label']; to: WriteTarget['label']; gapMs: number; acknowledgedBefore: { source: number; target: number } }[];
  /** Every acknowledged request: when it was due, when a client sent it, and how long from then until acknowledged (ms). */
  requests: { dueAt: number; sentAt: number; ms: number }[];
  /** When each failed attempt failed. */
  failedAt: number[];
}

/** Latency of the requests that were waiting at some moment of a window, as a client saw it. */
export interface ClientPause {
  p50: number;
  p99: number;
  max: number;
  /** Requests that were due or waiting during the window. */
  requests: number;
  /** Failed attempts during the window (each was retried). */
  failed: number;
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** The pauses of the requests whose wait overlaps [from, to] (epoch ms). */
export function clientPause(stats: WriteStats, from: number, to: number): ClientPause {
  const ms = stats.requests.filter((r) => r.sentAt <= to && r.sentAt + r.ms >= from).map((r) => r.ms);
  return {
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.length ? Math.max(...ms) : 0,
    requests: ms.length,
    failed: stats.failedAt.filter((t) => t >= from && t <= to).length,
  };
}

type Conn = Awaited<ReturnType<WriteTarget['connect']>>;

/** How many clients write at once: a steady pace a single connection could not keep on a durable server (one fsync per commit). */
const CLIENTS = 4;

export class WriteLoad {
  private running = false;
  private loop?: Promise<void>;
  readonly stats: WriteStats = {
    acknowledged: 0,
    failed: 0,
    failedRequests: 0,
    acknowledgedBy: { source: 0, target: 0 },
    ackedSeqs: [],
    errors: {},
    switches: [],
    requests: [],
    failedAt: [],
  };
  private last?: { label: WriteTarget['label']; at: number };
  private started = 0;
  /** Requests handed out so far (the pace's slots). */
  private slots = 0;
  private seq = 0;
  private paused = false;
  /** Requests sent and not yet acknowledged. */
  private inFlight = 0;
  /** Time spent paused (ms), and when the current pause began. */
  pausedMs = 0;
  private pausedAt = 0;

  constructor(
    private readonly targets: WriteTarget[],
    private readonly perSecond: number,
    private readonly clients = CLIENTS,
  ) {}

  start(): void {
    this.running = true;
    this.started = Date.now();
    this.loop = Promise.all(Array.from({ length: this.clients }, () => this.client())).then(() => undefined);
  }

  async stop(): Promise<WriteStats> {
    this.running = false;
    await this.loop;
    const s = this.stats;
    if (s.lastSourceAckAt !== undefined && s.firstTargetAckAt !== undefined) s.clientBlockedMs = s.firstTargetAckAt - s.lastSourceAckAt;
    return s;
  }

  /**
   * Stops handing out requests and resolves once every request already sent is acknowledged: the
   * sides are then quiet (a strict verify, say). resume() goes on at the same pace, with no backlog.
   */
  async pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      this.pausedAt = Date.now();
    }
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 1));
  }

  resume(): void {
    if (!this.paused) return;
    const now = Date.now();
    this.pausedMs += now - this.pausedAt;
    // The pace restarts now: the requests the pause skipped are not owed.
    this.started = now;
    this.slots = 0;
    this.paused = false;
  }

  /** The moment the next request is due, once it is: requests come at a steady pace, whatever the servers do. */
  private async nextDue(): Promise<number | undefined> {
    while (this.running) {
      if (this.paused) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const due = Math.floor(((Date.now() - this.started) / 1000) * this.perSecond);
      if (this.slots < due) return this.started + (this.slots++ * 1000) / this.perSecond;
      await new Promise((r) => setTimeout(r, 1));
    }
    return undefined;
  }

  /** One client: takes the next due request and retries it until a side acknowledges it. */
  private async client(): Promise<void> {
    let index = 0;
    // One connection per endpoint, kept while it works: an SQL error (read-only, not yet promoted) leaves it usable.
    const conns: (Conn | undefined)[] = this.targets.map(() => undefined);
    for (let dueAt = await this.nextDue(); dueAt !== undefined; dueAt = await this.nextDue()) {
      this.inFlight++;
      try {
        index = await this.untilAcknowledged(conns, index, dueAt);
      } finally {
        this.inFlight--;
      }
    }
    await Promise.all(conns.map((c) => c?.close().catch(() => undefined)));
  }

  /** Sends one request, retrying on the next endpoint, until a side acknowledges it (or the load stops); returns the endpoint to use next. */
  private async untilAcknowledged(conns: (Conn | undefined)[], index: number, dueAt: number): Promise<number> {
    const sentAt = Date.now();
    let failedOnce = false;
    while (this.running) {
      const t = this.targets[index];
      try {
        const conn = (conns[index] ??= await withTimeout(t.connect(), 2000));
        const mySeq = ++this.seq;
        await withTimeout(conn.write(mySeq), 5000);
        this.acknowledged(t.label, mySeq, dueAt, sentAt);
        return index;
      } catch (e) {
        if (!failedOnce) this.stats.failedRequests++;
        failedOnce = true;
        this.failed(e);
        const sql = isSqlError(e);
        if (!sql) {
          await conns[index]?.close().catch(() => undefined);
          conns[index] = undefined;
        }
        // Like an application with a list of endpoints: try the next one. A refused connection
        // waits a little longer, as a pool does, so that the clients do not flood a server shutting down.
        index = (index + 1) % this.targets.length;
        await new Promise((r) => setTimeout(r, sql ? 5 : 20));
      }
    }
    return index;
  }

  private acknowledged(label: WriteTarget['label'], seq: number, dueAt: number, sentAt: number): void {
    const now = Date.now();
    const s = this.stats;
    if (this.last && this.last.label !== label)
      s.switches.push({ from: this.last.label, to: label, gapMs: now - this.last.at, acknowledgedBefore: { ...s.acknowledgedBy } });
    this.last = { label, at: now };
    s.requests.push({ dueAt, sentAt, ms: now - sentAt });
    s.acknowledged++;
    s.acknowledgedBy[label]++;
    s.ackedSeqs.push(seq);
    if (label === 'source' && s.firstTargetAckAt === undefined) s.lastSourceAckAt = now;
    else if (label === 'target') s.firstTargetAckAt ??= now;
  }

  private failed(e: unknown): void {
    this.stats.failed++;
    this.stats.failedAt.push(Date.now());
    const key = String((e as Error).message)
      .replace(/\d+/g, 'N')
      .slice(0, 80);
    this.stats.errors[key] = (this.stats.errors[key] ?? 0) + 1;
  }
}

/** The server answered with an SQL error (read-only, ...) on a connection that stays usable. */
function isSqlError(e: unknown): boolean {
  const { code, sqlState, fatal } = (e ?? {}) as { code?: unknown; sqlState?: unknown; fatal?: unknown };
  // PostgreSQL: a SQLSTATE, except admin shutdown (57P..) and connection failures (08...); MySQL: sqlState on a live connection.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return !/^(57P|08)/.test(code);
  return typeof sqlState === 'string' && !fatal;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
