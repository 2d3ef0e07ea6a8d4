/**
 * A digest of the chunk checksums verify agreed on, for the audit record: sha256 over each chunk's
 * table, key range, row count and checksum as the target computed it last (a recheck replaces the
 * earlier one), sorted, one line each. The same rows give the same digest; any changed row, in any
 * chunk, changes it.
 */
import { createHash } from 'node:crypto';
import type { TableVerifier } from './types.js';

export class ChecksumDigest {
  private readonly chunks = new Map<string, string>();

  /** The verifier, with every checksum of the target's side remembered. */
  wrap(v: TableVerifier): TableVerifier {
    const chunks = this.chunks;
    return new Proxy(v, {
      get(t, prop) {
        if (prop !== 'checksum') {
          const value = Reflect.get(t, prop) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
        }
        const checksum: TableVerifier['checksum'] = async (side, table, range) => {
          const sum = await t.checksum(side, table, range);
          if (side === 'target')
            chunks.set(`${table}\t${JSON.stringify(range.after ?? null)}\t${JSON.stringify(range.upTo ?? null)}`, `${sum.rows}\t${sum.hash}`);
          return sum;
        };
        return checksum;
      },
    });
  }

  result(): { chunks: number; sha256: string } {
    const lines = [...this.chunks].map(([k, v]) => `${k}\t${v}\n`).sort();
    const h = createHash('sha256');
    for (const l of lines) h.update(l);
    return { chunks: lines.length, sha256: h.digest('hex') };
  }
}
