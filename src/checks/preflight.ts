/**
 * preflight's own checks, beside the `seed` scope it shares with seed-replica: connect latency to
 * both servers, the target's connections against the source's and the application's pool, clock
 * skew, the poolers, and the DNS TTL of the application's database name.
 */
import type { Engine, ServerLimits, StepContext } from '../engines/engine.js';
import { describeError } from '../errors.js';
import { judgeSkew, readOffset } from '../checklist/clock.js';
import { judgeTtl } from '../checklist/dns.js';
import type { ProbeResult } from '../checklist/probe.js';
import { poolerChecks } from '../poolers/index.js';
import { fail, ok, skip, warn, type CheckUnit, type Verdict } from './check.js';
import { formatBytes } from '../log.js';
import type { ServerLimitsOnce } from './connection.js';
import { defaultPort, hostPortOf, latencyCheck, poolCheck, type LatencyProbe } from './probes.js';

export class PreflightContext {
  /** The latency probes, source first, for the step's outputs. */
  probes: ProbeResult[] = [];
  constructor(
    readonly step: StepContext,
    readonly engine: Engine,
    readonly limits: ServerLimitsOnce,
  ) {}
}

export const latency: CheckUnit<PreflightContext> = {
  id: 'latency',
  title: 'latency',
  scopes: ['preflight'],
  async run(c) {
    const { inputs, ssh } = c.step;
    const port = defaultPort(inputs);
    const sourceLimits = await c.limits.known('source');
    // Through SSH, zdm's SQL reaches the source over the SSH connection: probe that path, from the SSH host on.
    const source: LatencyProbe = ssh
      ? { row: 'latency to the source (through SSH)', which: 'source', address: ssh.dbAddress, via: ssh.connection, limits: sourceLimits }
      : { row: 'latency to the source', which: 'source', address: hostPortOf(inputs.sourceUrl!, port), limits: sourceLimits };
    const target: LatencyProbe = {
      row: 'latency to the target',
      which: 'target',
      address: hostPortOf(inputs.targetUrl, port),
      limits: await c.limits.known('target'),
    };
    const r = await Promise.all([latencyCheck(c.engine.inspection, source, inputs), latencyCheck(c.engine.inspection, target, inputs)]);
    c.probes = r.map((x) => x.probe);
    return r.map((x) => x.verdict);
  },
};

/** Runs `check` with both servers' limits; skipped when logging in to either failed (its connection row says why). */
const bothLoggedIn =
  (check: (c: PreflightContext, l: { source: ServerLimits; target: ServerLimits }) => Promise<Verdict>) =>
  async (c: PreflightContext): Promise<Verdict> => {
    const [source, target] = [await c.limits.known('source'), await c.limits.known('target')];
    return source && target ? check(c, { source, target }) : skip('not checked: logging in to a server failed (see its connection row)');
  };

export const targetMaxConnections: CheckUnit<PreflightContext> = {
  id: 'target-max-connections',
  title: 'target max_connections',
  scopes: ['preflight'],
  run: bothLoggedIn(async (_c, { source, target }) =>
    target.maxConnections >= source.maxConnections
      ? ok(`${target.maxConnections} >= the source's ${source.maxConnections}`)
      : fail(
          `${target.maxConnections}, below the source's ${source.maxConnections}: after cutover the application may need as many connections as it has on the source. Raise max_connections on the target to at least ${source.maxConnections} (a restart).`,
        ),
  ),
};

export const appConnections: CheckUnit<PreflightContext> = {
  id: 'app-connections',
  title: 'connections for the application',
  scopes: ['preflight'],
  run: bothLoggedIn(async (c, { target }) => poolCheck(target, c.step.inputs, 'target')),
};

export const clockSkew: CheckUnit<PreflightContext> = {
  id: 'clock-skew',
  title: 'clock skew',
  scopes: ['preflight'],
  run: bothLoggedIn(async (c) => {
    const clock = c.step.clock ?? Date.now;
    try {
      const source = await readOffset(() => c.engine.inspection.serverNow('source'), clock);
      const target = await readOffset(() => c.engine.inspection.serverNow('target'), clock);
      return judgeSkew(source, target, c.step.inputs.maxClockSkewSeconds);
    } catch (e) {
      return fail(`could not read the servers' clocks: ${describeError(e)}`);
    }
  }),
};

export const poolers: CheckUnit<PreflightContext> = {
  id: 'poolers',
  title: 'poolers',
  scopes: ['preflight'],
  async run(c) {
    if (c.step.inputs.pooler === 'none') return skip('pooler: none');
    return poolerChecks(c.step.inputs);
  },
};

export const dnsTtl: CheckUnit<PreflightContext> = {
  id: 'dns-ttl',
  title: 'DNS TTL',
  scopes: ['preflight'],
  async run(c) {
    const { appDbHostname: name, dnsServers, maxDnsTtlSeconds } = c.step.inputs;
    if (!name) return skip('app-db-hostname not given');
    return { check: `DNS TTL of ${name}`, ...(await judgeTtl(name, dnsServers, maxDnsTtlSeconds)) };
  },
};

/** What preflight reads from the source to time the link: small beside any copy, large beside the round trip. */
const SAMPLE_BYTES = 4 * 1024 * 1024;

/**
 * Long seeds: the copy's time, from the source's size and the rate a read of the source reaches
 * from here (the link and the server's sending; the copy's disks may be slower still), against the
 * job's time limit. A copy killed by the limit starts again from scratch.
 */
export const seedTime: CheckUnit<PreflightContext> = {
  id: 'seed-time',
  title: 'seed time',
  scopes: ['preflight'],
  run: bothLoggedIn(async (c) => {
    const { inspection } = c.engine;
    const size = await inspection.sourceSize();
    const started = performance.now();
    for (let i = 0; i < 2; i++) await inspection.readSample(SAMPLE_BYTES);
    const seconds = Math.max((performance.now() - started) / 1000, 0.001);
    const rate = (2 * SAMPLE_BYTES) / seconds;
    const estimate = size / rate / 60;
    const limit = c.step.inputs.jobTimeoutMinutes;
    const facts = `about ${formatBytes(size)} at ${formatBytes(rate)}/s (a ${formatBytes(2 * SAMPLE_BYTES)} read of the source from here): ${estimate < 1 ? 'under a minute' : `about ${Math.ceil(estimate)} min`}, at best`;
    if (estimate <= limit * 0.8) return ok(`${facts}; within job-timeout-minutes ${limit}`);
    const want = Math.ceil((estimate * 1.5) / 60) * 60;
    return warn(
      `${facts}: it may not finish within the job's ${limit} minutes, and a copy killed by the limit starts again from scratch. ` +
        (want <= 7200
          ? `Set timeout-minutes: ${want} on the seed-replica job (a self-hosted runner's job may run up to 7200 minutes) and job-timeout-minutes to match.`
          : `That is beyond the 7200 minutes a self-hosted job may run: run seed-replica from the command line on the target host (zdm seed-replica, under tmux or systemd-run), where no job limit applies, and the later steps from workflows.`),
    );
  }),
};

/** The latency probes, right after logging in. */
export const LATENCY_CHECKS: readonly CheckUnit<PreflightContext>[] = [latency];
/** With the `seed` scope, once both servers are logged in to. */
export const SERVER_CHECKS: readonly CheckUnit<PreflightContext>[] = [targetMaxConnections, appConnections, clockSkew, seedTime];
/** What surrounds the servers: the poolers and the application's DNS name. */
export const SURROUNDING_CHECKS: readonly CheckUnit<PreflightContext>[] = [poolers, dnsTtl];
