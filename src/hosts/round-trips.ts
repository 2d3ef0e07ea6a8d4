/**
 * The exchanges zdm makes with one side, counted where they happen (each query sent on a
 * connection, each connection opened, each command run over SSH), with the time each was sent,
 * so that a step can say how many of them fell inside its write-blocked window. Over a WAN each
 * one costs at least a round trip: a query one, a new connection three or four (TCP, startup,
 * authentication), an SSH command about two (channel open, exec).
 */
export type TripKind = 'query' | 'connect' | 'command';

export interface TripCount {
  total: number;
  query: number;
  connect: number;
  command: number;
}

export class RoundTrips {
  private readonly sent: { at: number; kind: TripKind }[] = [];
  add(kind: TripKind, at = Date.now()): void {
    this.sent.push({ at, kind });
  }
  /** What was sent from `from` to `to` (ms since the epoch, both included). */
  between(from: number, to: number): TripCount {
    const n: TripCount = { total: 0, query: 0, connect: 0, command: 0 };
    for (const t of this.sent)
      if (t.at >= from && t.at <= to) {
        n.total++;
        n[t.kind]++;
      }
    return n;
  }
}

/** "5 (3 queries, 1 new connection, 1 SSH command)". */
export function describeTrips(n: TripCount): string {
  const parts = [
    [n.query, 'query', 'queries'],
    [n.connect, 'new connection', 'new connections'],
    [n.command, 'SSH command', 'SSH commands'],
  ]
    .filter(([k]) => Number(k) > 0)
    .map(([k, one, many]) => `${k} ${k === 1 ? one : many}`);
  return `${n.total}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** Counts every call of `methods` on `client` (its queries) in `trips`; the client itself is returned. */
export function countCalls<T extends object>(client: T, methods: (keyof T)[], trips: RoundTrips | undefined): T {
  if (!trips) return client;
  for (const m of methods) {
    const original = client[m] as unknown as (...a: unknown[]) => unknown;
    (client as Record<keyof T, unknown>)[m] = function (this: unknown, ...args: unknown[]) {
      trips.add('query');
      return original.apply(this, args);
    };
  }
  return client;
}
