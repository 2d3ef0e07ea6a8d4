/**
 * post-cutover's checks on the new primary: reachable and fast from the runner, room for the
 * application's pool, writable, durable, and feeding its own replicas when it should.
 */
import type { Engine, PrimaryState, StepContext } from '../engines/engine.js';
import type { ProbeResult } from '../checklist/probe.js';
import { fail, ok, skip, warn, type CheckUnit, type Verdict } from './check.js';
import { ServerLimitsOnce } from './connection.js';
import { defaultPort, hostPortOf, latencyCheck, poolCheck } from './probes.js';

/** What the new primary's checks share: its limits and state, read once; the latency probe, for the step's outputs. */
export class NewPrimaryContext {
  readonly limits: ServerLimitsOnce;
  probe?: ProbeResult;
  private primaryState?: Promise<PrimaryState>;
  constructor(
    readonly step: StepContext,
    readonly engine: Engine,
  ) {
    this.limits = new ServerLimitsOnce(engine.inspection);
  }

  state(): Promise<PrimaryState> {
    this.primaryState ??= this.engine.inspection.newPrimaryState();
    return this.primaryState;
  }
}

const NOT_CONNECTED = skip('not checked: logging in to the new primary failed (see its connection row)');

/** Runs `check` once logged in; skipped (left out of the checklist) when the connection failed. */
const loggedIn =
  (check: (c: NewPrimaryContext) => Promise<Verdict>) =>
  async (c: NewPrimaryContext): Promise<Verdict> =>
    (await c.limits.known('target')) ? check(c) : NOT_CONNECTED;

export const connection: CheckUnit<NewPrimaryContext> = {
  id: 'new-primary-connection',
  title: 'connection',
  scopes: ['post-cutover'],
  run: async (c) => ok((await c.limits.get('target')).version),
};

export const latency: CheckUnit<NewPrimaryContext> = {
  id: 'new-primary-latency',
  title: 'latency to the new primary',
  scopes: ['post-cutover'],
  async run(c) {
    const { inputs } = c.step;
    const address = hostPortOf(inputs.targetUrl, defaultPort(inputs));
    const r = await latencyCheck(c.engine.inspection, { row: this.title, which: 'target', address, limits: await c.limits.known('target') }, inputs);
    c.probe = r.probe;
    return r.verdict;
  },
};

export const appConnections: CheckUnit<NewPrimaryContext> = {
  id: 'new-primary-app-connections',
  title: 'connections for the application',
  scopes: ['post-cutover'],
  run: loggedIn(async (c) => poolCheck((await c.limits.known('target'))!, c.step.inputs, 'new primary')),
};

export const acceptsWrites: CheckUnit<NewPrimaryContext> = {
  id: 'accepts-writes',
  title: 'accepts writes',
  scopes: ['post-cutover'],
  run: loggedIn(async (c) => {
    const { notWritable } = await c.state();
    return notWritable ? fail(notWritable) : ok('a primary, not read-only');
  }),
};

export const durability: CheckUnit<NewPrimaryContext> = {
  id: 'durability',
  title: 'durability',
  scopes: ['post-cutover'],
  run: loggedIn(async (c) => {
    const settings = (await c.state()).durability;
    const weak = settings.filter((d) => !d.durable);
    const values = settings.map((d) => `${d.name}=${d.value}`).join(', ');
    if (weak.length === 0) return ok(values);
    const allowed = c.step.inputs.allowRelaxedDurability;
    const detail =
      `${values}: a crash of the new primary can lose acknowledged writes. ${weak.map((d) => d.fix).join('; ')}.` +
      (allowed ? ' (allow-relaxed-durability is set: not blocking)' : '');
    return allowed ? warn(detail) : fail(detail);
  }),
};

export const replicas: CheckUnit<NewPrimaryContext> = {
  id: 'replicas',
  title: 'replicas of the new primary',
  scopes: ['post-cutover'],
  run: loggedIn(async (c) => {
    const want = c.step.inputs.expectReplicas;
    if (want === undefined) return skip('expect-replicas not given');
    const all = (await c.state()).replicas;
    const streaming = all.filter((r) => r.streaming);
    const seen = all.length ? all.map((r) => r.name).join(', ') : 'none';
    return streaming.length >= want
      ? ok(`${streaming.length} streaming (expected ${want}): ${seen}`)
      : fail(
          `${streaming.length} streaming, expected ${want} (seen: ${seen}). Point the replicas at the new primary and start them; check their logs and the new primary's ${c.step.inputs.engine === 'postgres' ? 'pg_hba.conf' : 'replication grants (REPLICATION SLAVE)'}.`,
        );
  }),
};

/** The new primary's checks, in the order they run. */
export const NEW_PRIMARY_CHECKS: readonly CheckUnit<NewPrimaryContext>[] = [connection, latency, appConnections, acceptsWrites, durability, replicas];
