import { describe, expect, it } from 'vitest';
import type { Host, RunResult } from '../../src/hosts/host.js';
import { diskType } from '../../src/tuning/disk.js';

/** A host whose `df` names `device` and whose /sys/block holds `rotational` flags. */
function host(device: string, rotational: Record<string, string>): Host {
  return {
    run: async (): Promise<RunResult> => ({ code: 0, stdout: `Filesystem\n${device}\n`, stderr: '' }),
    readFile: async (p: string) => {
      const name = /^\/sys\/block\/([^/]+)\/queue\/rotational$/.exec(p)?.[1];
      if (name && rotational[name] !== undefined) return rotational[name] + '\n';
      throw new Error(`ENOENT ${p}`);
    },
  } as unknown as Host;
}

describe('disk type under the data directory', () => {
  it('tells NVMe, SSD and spinning disks apart by name and rotational flag', async () => {
    expect(await diskType(host('/dev/nvme0n1p2', {}), '/var/lib/mysql')).toBe('nvme');
    expect(await diskType(host('/dev/sda1', { sda: '0' }), '/var/lib/mysql')).toBe('ssd');
    expect(await diskType(host('/dev/sdb', { sdb: '1' }), '/var/lib/mysql')).toBe('rotational');
  });
  it('does not trust the rotational flag of a virtual disk, nor guess without a device', async () => {
    expect(await diskType(host('/dev/vda', { vda: '1' }), '/data')).toBe('unknown');
    expect(await diskType(host('/dev/xvdf1', { xvdf: '1' }), '/data')).toBe('unknown');
    expect(await diskType(host('/dev/vda', { vda: '0' }), '/data')).toBe('ssd');
    expect(await diskType(host('overlay', {}), '/data')).toBe('unknown');
    expect(await diskType(host('/dev/mapper/vg-root', {}), '/data')).toBe('unknown');
  });
});
