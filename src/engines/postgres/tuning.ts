/**
 * PostgreSQL catch-up settings for a standby target.
 *
 * A standby's WAL replay has no per-commit durability knob to relax (synchronous_commit only
 * matters once the server takes writes, and fsync=off would leave a target whose earlier writes
 * no later checkpoint makes durable). What speeds replay is fewer restartpoints (max_wal_size,
 * checkpoint_timeout) and a buffer cache sized to the machine. The catch-up settings are
 * reverted by cutover; the sizing settings are kept, as they suit the new primary too.
 */
import type { TuningItem } from '../engine.js';
import { formatBytes } from '../../log.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;

export const TUNABLE = ['max_wal_size', 'checkpoint_timeout', 'checkpoint_completion_target', 'shared_buffers', 'effective_cache_size'] as const;

/** Settings that replay needs as large on the standby as on the primary, or it refuses to start. */
export const STANDBY_MINIMUMS = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
] as const;

function pgSize(bytes: number): string {
  return bytes % GB === 0 ? `${bytes / GB}GB` : `${Math.floor(bytes / MB)}MB`;
}

/** The catch-up plan for a target with this much memory and free disk. */
export function planPostgresTuning(current: Record<string, string>, memoryBytes: number, freeDiskBytes: number): TuningItem[] {
  const items: TuningItem[] = [];
  const add = (name: string, value: string, reason: string, applies: TuningItem['applies'], revertAtCutover: boolean) => {
    if (current[name] === undefined || current[name] === value) return;
    items.push({ name, original: current[name], value, reason, applies, relaxesDurability: false, revertAtCutover });
  };
  // WAL between restartpoints: a tenth of the free disk, between 2 GB and 16 GB.
  const walBytes = Math.min(16 * GB, Math.max(2 * GB, Math.floor(freeDiskBytes / 10 / GB) * GB));
  add(
    'max_wal_size',
    pgSize(walBytes),
    `fewer restartpoints while replaying a backlog (a tenth of the ${formatBytes(freeDiskBytes)} free on the target's disk, 2-16 GB)`,
    'reload',
    true,
  );
  add(
    'checkpoint_timeout',
    '30min',
    'restartpoints at most every 30 minutes while catching up; crash recovery of the standby may take longer meanwhile',
    'reload',
    true,
  );
  add('checkpoint_completion_target', '0.9', 'spreads restartpoint writes over the interval', 'reload', true);
  const shared = Math.max(128 * MB, Math.min(32 * GB, Math.floor((memoryBytes * 0.25) / MB) * MB));
  add(
    'shared_buffers',
    pgSize(shared),
    `25% of the target's ${formatBytes(memoryBytes)} RAM (takes effect when seed-replica starts the target)`,
    'restart',
    false,
  );
  const cache = Math.max(256 * MB, Math.floor((memoryBytes * 0.75) / MB) * MB);
  add('effective_cache_size', pgSize(cache), `75% of the target's ${formatBytes(memoryBytes)} RAM, for the planner once the target serves`, 'reload', false);
  return items;
}
