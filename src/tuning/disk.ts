import type { Host } from '../hosts/host.js';

export type DiskType = 'nvme' | 'ssd' | 'rotational' | 'unknown';

/**
 * The kind of disk under `dir`, from the block device's name and its rotational flag. Virtual
 * disks (virtio vd*, Xen xvd*) report rotational=1 whatever backs them (their drivers do not
 * mark a disk non-rotational by default; this machine's vda says 1), so for them that flag means
 * nothing: 'unknown', and the plan says to set target-disk-type.
 */
export async function diskType(host: Host, dir: string): Promise<DiskType> {
  const r = await host.run(['df', '--output=source', dir]).catch(() => undefined);
  const dev = r?.code === 0 ? r.stdout.trim().split('\n').pop()?.trim() : undefined;
  const m = dev ? /^\/dev\/(?:mapper\/)?([a-z]+\d*n\d+|[a-z]+)/.exec(dev) : null;
  if (!m) return 'unknown';
  const name = m[1];
  if (name.startsWith('nvme')) return 'nvme';
  const rot = await host.readFile(`/sys/block/${name}/queue/rotational`).catch(() => undefined);
  if (rot === undefined) return 'unknown';
  if (rot.trim() !== '1') return 'ssd';
  return /^x?vd[a-z]/.test(name) ? 'unknown' : 'rotational';
}
