import { describe, expect, it } from 'vitest';
import { countCalls, describeTrips, RoundTrips } from '../../src/hosts/round-trips.js';

describe('RoundTrips', () => {
  it('counts what was sent inside a window, by kind', () => {
    const t = new RoundTrips();
    t.add('query', 100);
    t.add('connect', 200);
    t.add('query', 250);
    t.add('command', 300);
    t.add('query', 400);
    expect(t.between(200, 300)).toEqual({ total: 3, query: 1, connect: 1, command: 1 });
    expect(describeTrips(t.between(200, 300))).toBe('3 (1 query, 1 new connection, 1 SSH command)');
    expect(describeTrips(t.between(0, 1000))).toBe('5 (3 queries, 1 new connection, 1 SSH command)');
    expect(describeTrips(t.between(500, 600))).toBe('0');
  });

  it('counts each call of a client method and keeps its result and this', async () => {
    const t = new RoundTrips();
    const client = {
      n: 0,
      async query(sql: string) {
        this.n++;
        return sql.length;
      },
    };
    countCalls(client, ['query'], t);
    expect(await client.query('SELECT 1')).toBe(8);
    await client.query('SELECT 2');
    expect(client.n).toBe(2);
    expect(t.between(0, Date.now()).query).toBe(2);
    expect(countCalls(client, ['query'], undefined)).toBe(client);
  });
});
