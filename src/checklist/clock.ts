/** Clock skew between the runner and the servers, measured over a database round trip and compensated for it. */

export interface ClockReading {
  /** Server clock minus runner clock, in ms, at the middle of the fastest round trip. */
  offsetMs: number;
  /** Half that round trip: the offset is true within this many ms. */
  uncertaintyMs: number;
}

/**
 * Reads the server's clock `samples` times and keeps the reading with the shortest round trip
 * (the least room for delay on one leg only), as NTP does.
 */
export async function readOffset(serverNow: () => Promise<number>, clock: () => number, samples = 5): Promise<ClockReading> {
  let best: ClockReading | undefined;
  for (let i = 0; i < samples; i++) {
    const a = clock();
    const server = await serverNow();
    const b = clock();
    const reading = { offsetMs: server - (a + b) / 2, uncertaintyMs: Math.max(0, b - a) / 2 };
    if (!best || reading.uncertaintyMs < best.uncertaintyMs) best = reading;
  }
  return best!;
}

/** Skews above this warn: NTP keeps hosts within milliseconds, so a second means it is not in control. */
export const WARN_SKEW_MS = 1000;

function fmt(ms: number): string {
  const r = Math.round(ms);
  const abs = Math.abs(r);
  return `${r < 0 ? '-' : '+'}${abs < 1000 ? `${abs} ms` : `${(abs / 1000).toFixed(1)} s`}`;
}

/**
 * A verdict from the source's and the target's offsets to the runner. The smallest skew the
 * readings allow (offset less its uncertainty) is judged, so a slow round trip cannot raise a false alarm.
 */
export function judgeSkew(source: ClockReading, target: ClockReading, maxSkewSeconds: number): { status: 'ok' | 'warn' | 'fail'; detail: string } {
  const pairs = [
    { what: 'source vs runner', skew: source.offsetMs, unc: source.uncertaintyMs },
    { what: 'target vs runner', skew: target.offsetMs, unc: target.uncertaintyMs },
    { what: 'target vs source', skew: target.offsetMs - source.offsetMs, unc: source.uncertaintyMs + target.uncertaintyMs },
  ].map((p) => ({ ...p, atLeast: Math.max(0, Math.abs(p.skew) - p.unc) }));
  const worst = pairs.reduce((a, b) => (b.atLeast > a.atLeast ? b : a));
  const figures = pairs.map((p) => `${p.what} ${fmt(p.skew)} (±${p.unc.toFixed(0)} ms)`).join(', ');
  const fix = 'Run NTP (chrony or systemd-timesyncd) on every host and check `chronyc tracking` or `timedatectl`';
  if (worst.atLeast > maxSkewSeconds * 1000)
    return {
      status: 'fail',
      detail: `${figures}: ${worst.what} is above max-clock-skew-seconds (${maxSkewSeconds} s). Rows written just before cutover carry the source's clock and those just after the target's: time would jump for the application. ${fix}.`,
    };
  if (worst.atLeast > WARN_SKEW_MS) return { status: 'warn', detail: `${figures}: ${worst.what} is above 1 s. ${fix}.` };
  return { status: 'ok', detail: figures };
}
