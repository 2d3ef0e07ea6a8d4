/** Socket buffers sized from the link's bandwidth-delay product (input link-bandwidth-mbit, RTT measured). */
import { describe, expect, it } from 'vitest';
import { BDP_CEILING, BDP_FLOOR, bufferForLink, planKernel } from '../../src/tuning/sysctl.js';

const MiB = 1024 * 1024;
const DEBIAN = {
  'net.core.rmem_max': '212992',
  'net.core.wmem_max': '212992',
  'net.ipv4.tcp_rmem': '4096\t131072\t6291456',
  'net.ipv4.tcp_wmem': '4096\t16384\t4194304',
  'net.ipv4.tcp_syncookies': '1',
  'net.ipv4.tcp_tw_reuse': '2',
};

describe('bufferForLink', () => {
  it('is twice the bandwidth-delay product, rounded up to a MiB', () => {
    // 1 Gbit/s x 60 ms = 7.5 MB in flight; x2 = 15 MB = 14.3 MiB -> 15 MiB.
    const b = bufferForLink({ bandwidthMbit: 1000, rttMs: 60 });
    expect(b.bytes).toBe(15 * MiB);
    expect(b.reason).toMatch(/1000 Mbit\/s x 60\.0 ms RTT = 7\.2 MiB in flight \(bandwidth-delay product\), x2 .* = 15 MiB/);
  });

  it('keeps a floor for short or slow links and a ceiling for long fat ones', () => {
    const lan = bufferForLink({ bandwidthMbit: 100, rttMs: 30 });
    expect(lan.bytes).toBe(BDP_FLOOR);
    expect(lan.reason).toMatch(/the floor, 4\.0 MiB/);
    const fat = bufferForLink({ bandwidthMbit: 10_000, rttMs: 200 });
    expect(fat.bytes).toBe(BDP_CEILING);
    expect(fat.reason).toMatch(/the ceiling, 128 MiB/);
  });
});

describe('planKernel with a link', () => {
  it('sizes the four buffer maxima from the link and says why; the rest as without', () => {
    const items = Object.fromEntries(planKernel(DEBIAN, {}, { bandwidthMbit: 10_000, rttMs: 40 }).map((i) => [i.key, i]));
    // 10 Gbit/s x 40 ms = 50 MB; x2 = 100 MB = 95.4 MiB -> 96 MiB.
    expect(items['net.core.rmem_max'].value).toBe(String(96 * MiB));
    expect(items['net.core.wmem_max'].value).toBe(String(96 * MiB));
    expect(items['net.ipv4.tcp_rmem'].value).toBe(`4096 131072 ${96 * MiB}`);
    expect(items['net.ipv4.tcp_wmem'].value).toBe(`4096 65536 ${96 * MiB}`);
    expect(items['net.ipv4.tcp_rmem'].reason).toMatch(/^min, default and max TCP receive buffer: sized from the link: 10000 Mbit\/s x 40\.0 ms/);
    expect(items['net.ipv4.tcp_syncookies'].change).toBe(false);
  });

  it('never lowers a larger current value, and without a link keeps the fixed 16 MiB', () => {
    const big = { ...DEBIAN, 'net.core.rmem_max': String(64 * MiB) };
    const items = Object.fromEntries(planKernel(big, {}, { bandwidthMbit: 100, rttMs: 10 }).map((i) => [i.key, i]));
    expect(items['net.core.rmem_max'].change).toBe(false);
    expect(items['net.core.wmem_max'].value).toBe(String(BDP_FLOOR));
    const fixed = Object.fromEntries(planKernel(DEBIAN).map((i) => [i.key, i]));
    expect(fixed['net.core.rmem_max'].value).toBe(String(16 * MiB));
  });
});
