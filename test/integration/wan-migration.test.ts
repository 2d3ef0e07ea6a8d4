/**
 * A PostgreSQL and a MariaDB migration with the source behind the WAN test bed (30 ms RTT,
 * 100 Mbit/s), reached over SSH, under a writing client: nothing acknowledged is lost, and the
 * report gives the write-blocked window, the round trips to the source inside it, and the seed's
 * rate against the link. Small data sets: this is about the path, bench/ has the figures.
 */
import { describe, expect, it } from 'vitest';
import { TextLog } from '../../src/log.js';
import { formatReport, rehearse, type RehearsalOptions } from '../../src/rehearse/rehearsal.js';

const base: RehearsalOptions = {
  engine: 'postgres',
  sizeMb: 8,
  writesPerSecond: 100,
  fence: 'auto',
  targetMemory: '1GB',
  keep: false,
  ssh: true,
  durable: false,
  rttMs: 30,
  bandwidthMbit: 100,
};

async function overWan(opts: Partial<RehearsalOptions>) {
  const lines: string[] = [];
  const report = await rehearse({ ...base, ...opts }, new TextLog((l) => lines.push(l)));
  const text = formatReport(report);
  if (!report.ok) console.log(`${lines.slice(-40).join('\n')}\n${text}`);
  else
    console.log(
      text
        .split('\n')
        .filter((l) => /write-blocked|WAN test bed|seed over|compression/.test(l))
        .join('\n'),
    );
  return { report, text };
}

describe('a migration across a WAN (30 ms RTT, 100 Mbit/s, source over SSH)', () => {
  for (const engine of ['postgres', 'mariadb'] as const)
    it(`${engine}: no acknowledged write lost; window, source round trips and seed rate reported`, { timeout: 600_000 }, async () => {
      const { report, text } = await overWan({ engine });
      expect(report.error).toBeUndefined();
      expect(report.ok).toBe(true);
      expect(report.writes.missingOnTarget).toBe(0);
      expect(report.writes.acknowledgedByTarget).toBeGreaterThan(0);
      expect(report.cutover.writeBlockedMs).toBeGreaterThan(0);
      // At least the fence itself went to the source, through the link.
      expect(report.cutover.sourceRoundTrips).toBeGreaterThan(0);
      expect(text).toMatch(/source round trips: \d+/);
      expect(report.wan?.measured?.rttMs).toBeGreaterThanOrEqual(30);
      // The seed crossed the shaped link, no faster than the link.
      expect(report.wan?.seed?.bytes).toBeGreaterThan(1024 ** 2);
      // MariaDB's backup stream is compressed over SSH: the sample rows shrink well below their size.
      if (engine === 'mariadb') expect(report.wan!.seed!.bytes).toBeLessThan(report.dataBytes);
      expect(report.wan?.seed?.mbit).toBeLessThan(100 * 1.15);
      expect(text).toMatch(/seed over the link .* Mbit\/s, \d+% of the link/);
    });
});
