/** The poolers named by the inputs, one driver per admin address. */
import type { StepContext } from '../engines/engine.js';
import { InputError, describeError } from '../errors.js';
import type { PoolerOptions } from '../inputs.js';
import { holdPoolers, resumeLeftovers } from './hold.js';
import { Haproxy } from './haproxy.js';
import { Pgbouncer } from './pgbouncer.js';
import { parseAddress, type Address, type Pooler, type PoolerCheck } from './pooler.js';

export type { Pooler } from './pooler.js';

/** A list input: one item per line, or separated by commas or spaces. */
export function listOf(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter(Boolean);
}

function openHaproxies(inputs: PoolerOptions, urls: string[]): Pooler[] {
  if (inputs.engine === 'postgres')
    throw new InputError('pooler', 'haproxy is driven for MySQL/MariaDB; for PostgreSQL use pooler: pgbouncer, which holds requests');
  const backend = inputs.poolerBackend;
  const server = inputs.poolerServer;
  if (!backend || !server)
    throw new InputError(
      !backend ? 'pooler-backend' : 'pooler-server',
      'is required with pooler: haproxy: the backend and the server in it that the application reaches the database through',
    );
  for (const [i, u] of urls.entries())
    if (!/^(tcp:\/\/|unix:)/.test(u))
      throw new InputError(
        'pooler-admin-urls',
        `item ${i + 1} must be HAProxy's runtime API as tcp://host:port or unix:/path/to/admin.sock (a "stats socket ... level admin")`,
      );
  return urls.map((adminUrl) => new Haproxy({ adminUrl, backend, server }));
}

/** Undefined when `pooler` is none. Throws InputError for an incomplete or inconsistent list. */
export function openPoolers(inputs: PoolerOptions): Pooler[] | undefined {
  if (inputs.pooler === 'none') return undefined;
  const urls = listOf(inputs.poolerAdminUrls);
  if (!urls.length)
    throw new InputError('pooler-admin-urls', `is required with pooler: ${inputs.pooler}: the admin address of each pooler the application connects through`);
  if (inputs.pooler === 'haproxy') return openHaproxies(inputs, urls);
  if (inputs.engine !== 'postgres') throw new InputError('pooler', `pgbouncer is a PostgreSQL pooler, but the engine is ${inputs.engine}`);
  const files = listOf(inputs.poolerConfigFiles);
  if (files.length !== urls.length)
    throw new InputError(
      'pooler-config-files',
      `must name one configuration file per pooler, in the order of pooler-admin-urls (${urls.length} admin address(es), ${files.length} file(s))`,
    );
  const database = inputs.poolerDatabase;
  if (!/^[\w.-]+$/.test(database))
    throw new InputError(
      'pooler-database',
      `must be the name of the PgBouncer [databases] entry the application connects to (got ${JSON.stringify(database)})`,
    );
  return urls.map((adminUrl, i) => {
    let u: URL;
    try {
      u = new URL(adminUrl);
    } catch {
      throw new InputError(
        'pooler-admin-urls',
        `item ${i + 1} must be a URL such as postgres://admin:PASSWORD@pgbouncer-host:6432/pgbouncer (got a masked value)`,
      );
    }
    if (!/^postgres(ql)?:$/.test(u.protocol))
      throw new InputError('pooler-admin-urls', `item ${i + 1} must be a postgres:// URL of PgBouncer's admin console (got scheme ${u.protocol})`);
    return new Pgbouncer({ adminUrl, configFile: files[i], database });
  });
}

type Mark = (what: string, at?: number) => void;

/**
 * Cutover's one handle on the poolers: opened first thing (a pooler left paused by a run that died
 * is resumed at once, whatever happens next), then `around` the fenced switch, or `finish` when a
 * re-run finds the switch already done. Without a pooler every call is a pass-through.
 */
export class PoolerSwitch {
  heldMs?: number;
  /** What failed after the switch was done (repoint, RESUME): reported with the promotion, never instead of it. */
  problems: string[] = [];
  private constructor(
    private readonly ctx: StepContext,
    private readonly poolers: Pooler[],
    private readonly mark: Mark,
  ) {}

  static async open(ctx: StepContext, mark: Mark): Promise<PoolerSwitch> {
    const s = new PoolerSwitch(ctx, openPoolers(ctx.inputs) ?? [], mark);
    try {
      await resumeLeftovers(s.poolers, ctx, mark);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private target(endpoint: string): Address {
    return parseAddress(this.ctx.inputs.poolerTargetAddress || endpoint, this.ctx.inputs.engine === 'postgres' ? 5432 : 3306);
  }

  async around<T>(doSwitch: () => Promise<T>, endpoint: () => string): Promise<T> {
    if (!this.poolers.length) return doSwitch();
    const i = this.ctx.inputs;
    const o = {
      pauseTimeoutMs: i.pauseTimeoutSeconds * 1000,
      longTransactionSeconds: i.longTransactionSeconds,
      longTransactionPolicy: i.longTransactionPolicy,
    };
    const held = await holdPoolers(this.poolers, this.ctx, this.mark, o, doSwitch, () => this.target(endpoint()));
    this.heldMs = held.heldMs;
    this.problems = held.problems;
    return held.result;
  }

  /** The switch was done by an earlier run: point every pooler at the new primary, and resume it. */
  async finish(endpoint: string): Promise<void> {
    for (const p of this.poolers) {
      this.mark(await p.repoint(this.target(endpoint)));
      await p.resume();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.poolers.map((p) => p.close().catch(() => undefined)));
  }
}

/** Preflight's rows for the poolers: each reachable and controllable, its entry there, its settings fit for a hold. */
export async function poolerChecks(inputs: PoolerOptions): Promise<PoolerCheck[]> {
  let poolers: Pooler[] | undefined;
  try {
    poolers = openPoolers(inputs);
  } catch (e) {
    return [{ check: 'pooler inputs', status: 'fail', detail: describeError(e) }];
  }
  if (!poolers) return [];
  try {
    return (await Promise.all(poolers.map((p) => p.check()))).flat();
  } finally {
    await Promise.all(poolers.map((p) => p.close().catch(() => undefined)));
  }
}
