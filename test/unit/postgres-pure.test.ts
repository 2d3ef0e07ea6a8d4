import { describe, expect, it } from 'vitest';
import { formatLsn, lsnDiff, parseLsn } from '../../src/engines/postgres/lsn.js';
import { planPostgresTuning } from '../../src/engines/postgres/tuning.js';

const GB = 1024 ** 3;

describe('LSN arithmetic', () => {
  it('parses and formats', () => {
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('0/3000028'))).toBe('0/3000028');
  });
  it('diffs across the 4 GB boundary and never goes negative', () => {
    expect(lsnDiff('1/0', '0/FFFFFFFF')).toBe(1);
    expect(lsnDiff('0/10', '0/20')).toBe(0);
    expect(() => parseLsn('banana')).toThrow(/not an LSN/);
  });
});

describe('PostgreSQL tuning plan', () => {
  const current = {
    max_wal_size: '1GB',
    checkpoint_timeout: '5min',
    checkpoint_completion_target: '0.9',
    shared_buffers: '128MB',
    effective_cache_size: '4GB',
  };
  it('sizes memory settings to the RAM and WAL to the disk, and records originals', () => {
    const items = planPostgresTuning(current, { memoryBytes: 16 * GB, cpus: 8, disk: 'nvme', freeDiskBytes: 500 * GB });
    const by = Object.fromEntries(items.map((i) => [i.name, i]));
    expect(by.shared_buffers.value).toBe('4GB');
    expect(by.shared_buffers.original).toBe('128MB');
    expect(by.shared_buffers.applies).toBe('restart');
    expect(by.shared_buffers.revertAtCutover).toBe(false);
    expect(by.effective_cache_size.value).toBe('12GB');
    expect(by.max_wal_size.value).toBe('16GB');
    expect(by.max_wal_size.revertAtCutover).toBe(true);
    expect(by.checkpoint_timeout.value).toBe('30min');
    // Already at the catch-up value: not in the plan, so nothing to revert.
    expect(by.checkpoint_completion_target).toBeUndefined();
  });
  it('keeps a small machine small', () => {
    const items = planPostgresTuning(current, { memoryBytes: 1 * GB, cpus: 2, disk: 'rotational', freeDiskBytes: 5 * GB });
    const by = Object.fromEntries(items.map((i) => [i.name, i]));
    expect(by.shared_buffers.value).toBe('256MB');
    expect(by.max_wal_size.value).toBe('2GB');
  });
});
