/** What a rehearsal needs of an engine's throwaway servers; one implementation per engine. */
import type { RehearsalStepName } from '../inputs.js';
import type { WriteTarget } from './writer.js';

export interface RehearsalFixture {
  readonly engine: 'postgres' | 'mariadb' | 'mysql';
  /** Started with production durability (fsync on; sync_binlog=1 and innodb_flush_log_at_trx_commit=1). */
  readonly durable: boolean;
  /** The source's durability settings as the server reports them. */
  durability(): Promise<Record<string, string>>;
  serverVersion(): Promise<string>;
  /** Creates the writes table and loads about `sizeMb` of sample rows into the source; returns its size in bytes. */
  loadSampleData(sizeMb: number): Promise<number>;
  /** The application's two endpoints, source first. */
  writeTargets(): WriteTarget[];
  /** The inputs of each step, as a workflow would give them (without the outputs of earlier steps). */
  stepInputs(opts: { fence: string; targetMemory: string }): Record<RehearsalStepName, Record<string, string>>;
  /** Inserts through the sequences on the new primary after cutover: how many collided with a used value. */
  sequencesAfterCutover?(): Promise<{ inserted: number; collisions: number }>;
  /** Acknowledged writes not found on the target. */
  missingOnTarget(acked: number[]): Promise<number[]>;
  /** The way back: what cutover adds to set up reverse replication, and rollback's inputs. */
  wayBackInputs(opts: { fence: string }): { cutover: Record<string, string>; rollback: Record<string, string> };
  /** Acknowledged writes not found on the source (after a rollback). */
  missingOnSource(acked: number[]): Promise<number[]>;
  /** Where the servers live, for --keep. */
  describe(): string;
  destroy(): Promise<void>;
}
