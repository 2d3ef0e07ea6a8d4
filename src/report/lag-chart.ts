/** A Mermaid chart of replication lag over time; job summaries and PR comments render it. */
export interface LagPoint {
  /** Seconds since the watch began. */
  t: number;
  bytes: number;
  seconds?: number;
}

/** At most `max` points, evenly spread, always keeping the first and last. */
export function downsample<T>(points: T[], max = 60): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.round((i * (points.length - 1)) / (max - 1))]);
  return out;
}

export function lagChart(points: LagPoint[], title = 'Replication lag'): string {
  if (points.length < 2) return '';
  const p = downsample(points);
  const mb = p.map((x) => Math.round((x.bytes / (1024 * 1024)) * 100) / 100);
  const hb = p.map((x) => Math.round((x.seconds ?? 0) * 100) / 100);
  const top = Math.max(0.01, ...mb);
  return [
    '```mermaid',
    'xychart-beta',
    `  title "${title}"`,
    `  x-axis "seconds since start" [${p.map((x) => Math.round(x.t)).join(', ')}]`,
    `  y-axis "MB behind" 0 --> ${Math.ceil(top * 1.1 * 100) / 100}`,
    `  line [${mb.join(', ')}]`,
    '```',
    '',
    `Heartbeat lag (s): first ${hb[0]}, last ${hb[hb.length - 1]}, max ${Math.max(...hb)}.`,
    '',
  ].join('\n');
}
