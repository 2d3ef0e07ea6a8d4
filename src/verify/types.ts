/**
 * What the verify step asks of an engine: table lists, primary-key chunk boundaries, checksums
 * computed inside the database, and replication positions. Engines implement it with their SQL;
 * src/verify/ holds the engine-neutral chunking, recheck and report logic.
 */

/** A primary-key value as text, one string per key column, as the database renders it. */
export type Key = string[];

/** Rows with key > `after` (exclusive) and key <= `upTo` (inclusive); an open end when undefined. */
export interface KeyRange {
  after?: Key;
  upTo?: Key;
}

/** A table as one side sees it. */
export interface TableInfo {
  /** Full name used in reports and in the verify-tables filter: `db.schema.table` (PostgreSQL), `db.table` (MySQL). */
  name: string;
  /** Primary-key columns in key order; empty when the table has none. */
  key: string[];
  /** Column names and types, in order: the two sides must agree before rows are compared. */
  columns: string;
  /** The planner's row estimate, for progress and ETAs. */
  estimatedRows: number;
  /** Why the primary key cannot be walked in ranges: the table then gets one whole-table checksum. */
  unchunkable?: string;
  /** Why the table cannot be compared at all (e.g. an unlogged PostgreSQL table is not replicated). */
  uncomparable?: string;
}

export interface ChunkSum {
  rows: number;
  /** An order-independent sum of per-row hashes, as decimal text. */
  hash: string;
}

export type Side = 'source' | 'target';

export interface TableVerifier {
  /** User tables on one side (system schemas and the heartbeat table left out). */
  tables(side: Side): Promise<TableInfo[]>;
  /**
   * The `rows`-th key in `range` in key order, or the last key of the range when it holds fewer
   * rows; undefined when the range is empty. Chunks end there; bisection splits there.
   */
  boundary(side: Side, table: string, range: KeyRange, rows: number): Promise<Key | undefined>;
  /** The first and last key present in `range`. */
  edges(side: Side, table: string, range: KeyRange): Promise<{ first?: Key; last?: Key }>;
  /** Row count and hash of a key range (a table without a key: the whole table, range ignored). */
  checksum(side: Side, table: string, range: KeyRange): Promise<ChunkSum>;
  /** Whether the target is a replica that applies the source's changes right now. */
  targetReplicates(): Promise<boolean>;
  /** The source's current position (LSN, GTID set or binlog file:pos), taken after a source checksum. */
  sourcePosition(): Promise<string>;
  /** Waits until the target has applied `position`; false on timeout. */
  waitApplied(position: string, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}
