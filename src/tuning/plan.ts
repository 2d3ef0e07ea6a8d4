/** tune-target's plan: the settings it changes on the target with their originals (the record and the `tuning` output carry it). */
import type { DiskType } from './disk.js';
import type { KernelPlan } from './sysctl.js';

/** One setting tune-target changes, with what it was and why. */
export interface TuningItem {
  name: string;
  original: string;
  value: string;
  reason: string;
  /** 'reload': takes effect at once; 'restart': at the next server start (seed-replica starts it). */
  applies: 'reload' | 'restart';
  /** Relaxed durability for catching up: restored by cutover before the target takes writes. */
  relaxesDurability: boolean;
  /** Restored by cutover (catch-up settings); false for sizing that suits the new primary too. */
  revertAtCutover: boolean;
  /**
   * Revert persists the original instead of removing the setting: PostgreSQL, the original was
   * itself set by ALTER SYSTEM; MySQL/MariaDB, a durability setting the server's own configuration
   * left relaxed, whose durable value must survive a restart of the new primary.
   */
  persistedOriginal?: boolean;
  /** The value when planned, where it differs from `original` (a durability setting already relaxed). */
  current?: string;
}

/** What the engine plan is sized from, each value measured on the target or given as an input. */
export interface TuningResources {
  memoryBytes: number;
  cpus: number;
  /** Undefined: the engine reads the disk type under its data directory. */
  disk?: DiskType;
  /** From `tuning-overrides`: values that replace the computed ones (names already checked). */
  overrides?: Record<string, string>;
}

export interface TuningPlan {
  engine: string;
  memoryBytes: number;
  cpus: number;
  disk?: DiskType;
  items: TuningItem[];
  /** The kernel settings, with their original texts (absent when kernel-tuning is off). */
  kernel?: KernelPlan;
  /** Printed by a dry run: nothing was applied, so there is nothing to restore. */
  dryRun?: boolean;
}
