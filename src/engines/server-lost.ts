/**
 * A server that goes away in the middle of a step (stopped, crashed, the SSH tunnel cut) breaks
 * whatever query was running, deep inside an engine, with a driver's words: "Client has
 * encountered a connection error and is not queryable". The clients zdm makes mark such errors
 * with the server they were talking to, and the step's caller turns them into one message that
 * names the server, what zdm was doing, and what to do (runStep, as a SideError). Any other failed
 * statement is marked with its server too, so that an unexpected error says which side it came from.
 */

/** The server a client talks to, without credentials: the input it came from and host:port. */
export interface ServerRef {
  input: string;
  at: string;
}

const marked = new WeakMap<object, ServerRef>();
/** Every statement's failure, lost connection or not: which server an unexpected error came from. */
const failedOn = new WeakMap<object, ServerRef>();

const PG_LOST_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006']);
const MY_LOST_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED']);
const NET_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const LOST_WORDS =
  /connection terminated|not queryable|client was closed|terminating connection|server closed the connection|connection lost|closed state|socket hang up|read ECONNRESET/i;

/** Whether an error says the connection itself is gone (not that a statement failed). */
export function isConnectionLost(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (PG_LOST_CODES.has(code) || MY_LOST_CODES.has(code) || NET_LOST_CODES.has(code))) return true;
  return LOST_WORDS.test(e.message);
}

/** Marks `e` as a lost connection to `server` when it is one; returns `e` for rethrowing. */
export function markIfLost(e: unknown, server: ServerRef): unknown {
  if (isConnectionLost(e) && typeof e === 'object' && e !== null && !marked.has(e)) marked.set(e, server);
  return e;
}

/** Marks `e` as a failure of a statement on `server` (and as a lost connection when it is one); returns `e`. */
export function markFailure(e: unknown, server: ServerRef): unknown {
  if (typeof e === 'object' && e !== null && !failedOn.has(e)) failedOn.set(e, server);
  return markIfLost(e, server);
}

function markedIn(map: WeakMap<object, ServerRef>, err: unknown): { server: ServerRef; error: Error } | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const server = typeof e === 'object' ? map.get(e as object) : undefined;
    if (server) return { server, error: e as Error };
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** The lost server an error (or one of its causes) was marked with. */
export function lostServerOf(err: unknown): { server: ServerRef; error: Error } | undefined {
  return markedIn(marked, err);
}

/** The server a statement failed on, for an error (or one of its causes) that a client marked. */
export function failedServerOf(err: unknown): { server: ServerRef; error: Error } | undefined {
  return markedIn(failedOn, err);
}

/**
 * Makes every promise a client method returns mark its rejection with the server (a failure, and
 * a lost connection when it is one). Wraps the
 * methods that run statements (pg: query; mysql2: query, execute) in place.
 */
export function markLostOn<T extends object>(client: T, methods: readonly string[], server: ServerRef): T {
  const c = client as Record<string, unknown>;
  for (const name of methods) {
    const original = c[name];
    if (typeof original !== 'function') continue;
    c[name] = function (this: unknown, ...args: unknown[]) {
      const r = (original as (...a: unknown[]) => unknown).apply(client, args);
      if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(markFailure(e, server)));
      return r;
    };
  }
  return client;
}
