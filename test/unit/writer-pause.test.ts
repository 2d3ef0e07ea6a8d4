/** The write load's client-side figures: each request's wait from when it was due, failed requests counted once. */
import { describe, expect, it } from 'vitest';
import { clientPause, percentile, WriteLoad, type WriteStats, type WriteTarget } from '../../src/rehearse/writer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(sent: { at: number; ms: number }[], failedAt: number[] = []): WriteStats {
  const requests = sent.map((r) => ({ dueAt: r.at, sentAt: r.at, ms: r.ms }));
  return {
    acknowledged: requests.length,
    failed: failedAt.length,
    failedRequests: 0,
    acknowledgedBy: { source: requests.length, target: 0 },
    ackedSeqs: [],
    errors: {},
    switches: [],
    requests,
    failedAt,
  };
}

/** An endpoint in memory: `blockUntil` holds every write until then; `failUntil` answers with an SQL error (the connection stays usable). */
function endpoint(label: WriteTarget['label'], opts: { blockUntil?: () => number; failUntil?: () => number } = {}) {
  const counts = { connects: 0, writes: 0 };
  const target: WriteTarget = {
    label,
    connect: async () => {
      counts.connects++;
      return {
        write: async () => {
          counts.writes++;
          if (opts.failUntil && Date.now() < opts.failUntil())
            throw Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
          const wait = (opts.blockUntil?.() ?? 0) - Date.now();
          if (wait > 0) await sleep(wait);
        },
        close: async () => undefined,
      };
    },
  };
  return { target, counts };
}

describe('client pause figures', () => {
  it('takes the requests whose wait overlaps the window, and the failed attempts inside it', () => {
    const s = stats(
      [
        { at: 0, ms: 5 }, // done before the window
        { at: 90, ms: 20 }, // waiting when it opens
        { at: 100, ms: 400 },
        { at: 300, ms: 200 },
        { at: 600, ms: 3 }, // after it
      ],
      [50, 150, 250, 700],
    );
    const p = clientPause(s, 100, 500);
    expect(p.requests).toBe(3);
    expect(p.max).toBe(400);
    expect(p.p50).toBe(200);
    expect(p.failed).toBe(2);
  });

  it('percentile is the nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([], 99)).toBe(0);
  });
});

describe('WriteLoad', () => {
  it('counts a pause in every request the clients were sending during it, from when it was sent', async () => {
    let blockUntil = 0;
    const src = endpoint('source', { blockUntil: () => blockUntil });
    const load = new WriteLoad([src.target], 200);
    load.start();
    await sleep(300);
    const from = Date.now();
    blockUntil = from + 400;
    await sleep(700);
    const s = await load.stop();
    const p = clientPause(s, from, from + 400);
    // Each of the 4 clients sent a request within the first 100 ms of the pause, and it waited for its end.
    expect(s.requests.filter((r) => r.sentAt >= from - 5 && r.sentAt < from + 100 && r.ms >= 290).length).toBe(4);
    expect(p.max).toBeGreaterThanOrEqual(380);
    expect(p.requests).toBeGreaterThanOrEqual(4);
    // The backlog the clients worked off after the pause is not counted as anyone's pause.
    expect(s.requests.filter((r) => r.sentAt >= from + 400).every((r) => r.ms < 200)).toBe(true);
    expect(s.failed).toBe(0);
  });

  it('retries a failed request on the next endpoint and counts it once, keeping a connection that answered with an SQL error', async () => {
    const start = Date.now();
    const src = endpoint('source', { failUntil: () => start + 100000 });
    const tgt = endpoint('target', { failUntil: () => start + 300 });
    const load = new WriteLoad([src.target, tgt.target], 100, 2);
    load.start();
    await sleep(800);
    const s = await load.stop();
    expect(s.acknowledgedBy.source).toBe(0);
    expect(s.acknowledgedBy.target).toBeGreaterThan(20);
    expect(s.failed).toBeGreaterThan(s.failedRequests);
    // The requests due in the first 300 ms, each counted once however often it was retried.
    expect(s.failedRequests).toBeGreaterThanOrEqual(2);
    expect(s.failedRequests).toBeLessThanOrEqual(40);
    // One connection per endpoint and client: SQL errors do not make the clients reconnect.
    expect(src.counts.connects).toBe(2);
    expect(tgt.counts.connects).toBe(2);
    expect(Math.max(...s.requests.map((r) => r.ms))).toBeGreaterThanOrEqual(250);
  });

  it('pause() waits for the requests already sent and then sends none until resume(), which owes no backlog', async () => {
    let blockUntil = 0;
    const src = endpoint('source', { blockUntil: () => blockUntil });
    const load = new WriteLoad([src.target], 100);
    load.start();
    await sleep(200);
    // Every write sent from now on is held until 200 ms from now: pause() must wait for those in flight.
    const before = src.counts.writes;
    blockUntil = Date.now() + 200;
    await sleep(50);
    await load.pause();
    // Writes were sent while held, and pause() returned only once they were acknowledged.
    expect(src.counts.writes).toBeGreaterThan(before);
    expect(Date.now()).toBeGreaterThanOrEqual(blockUntil - 1);
    expect(load.stats.acknowledged).toBe(src.counts.writes);
    const quiet = src.counts.writes;
    await sleep(300);
    expect(src.counts.writes).toBe(quiet);
    load.resume();
    await sleep(200);
    const s = await load.stop();
    // About 20 writes at 100/s in 200 ms after the resume, not the 30 skipped during the pause on top.
    expect(src.counts.writes - quiet).toBeGreaterThanOrEqual(8);
    expect(src.counts.writes - quiet).toBeLessThanOrEqual(25);
    expect(load.pausedMs).toBeGreaterThanOrEqual(300);
    expect(s.acknowledged).toBe(src.counts.writes);
  });
});
