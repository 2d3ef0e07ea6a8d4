import pg from 'pg';
import { appUrl, type PgPair } from '../../src/rehearse/postgres.js';

/** One write of the application's account to `writes` on the pair's source or target, on a connection of its own. */
export async function pgAppWrite(pair: PgPair, server: 'source' | 'target', seq: number): Promise<void> {
  const c = new pg.Client({ connectionString: appUrl(pair, pair[server]), connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query('INSERT INTO writes (client_seq, payload) VALUES ($1, $2)', [seq, 'x']);
  } finally {
    await c.end();
  }
}
