/**
 * The pooler section of `npm run bench`: N cutovers of PostgreSQL through PgBouncer under 300
 * writes/s, on durable servers (fsync on; the target inherits the source's postgresql.conf through
 * the copy). The writing client connects only through PgBouncer; each request is timed here, so
 * that the longest pause any single request saw is known for every cutover.
 */
import { TextLog } from '../src/log.js';
import { PostgresFixture } from '../src/rehearse/postgres.js';
import { pgbouncerInputs, startPgbouncers, throughPgbouncer } from '../src/rehearse/pooler.js';
import { WriteLoad, type WriteTarget } from '../src/rehearse/writer.js';
import { runStep } from '../src/run-step.js';

export interface PoolerFigure {
  section: string;
  name: string;
  value: number | string;
  unit: string;
  target?: string;
  met?: boolean;
  detail?: string;
}

const quiet = new TextLog(() => undefined);

/** The write target, with the longest single request it served recorded. */
function timed(t: WriteTarget, longest: { ms: number }): WriteTarget {
  return {
    get label() {
      return t.label;
    },
    connect: async () => {
      const c = await t.connect();
      return {
        write: async (seq: number) => {
          const t0 = performance.now();
          await c.write(seq);
          longest.ms = Math.max(longest.ms, performance.now() - t0);
        },
        close: c.close,
      };
    },
  };
}

interface Trial {
  failed: number;
  lost: number;
  longestRequestMs: number;
  writeBlockedMs: number;
  heldMs: number;
}

async function oneCutover(): Promise<Trial> {
  const fx = await PostgresFixture.start({ sourceSettings: { fsync: 'on' } });
  const bouncers = await startPgbouncers(fx.pair, 1).catch(async (e) => {
    await fx.destroy();
    throw e;
  });
  try {
    await fx.loadSampleData(4);
    const inputs = fx.stepInputs({ fence: 'auto', targetMemory: '1GB' });
    let tuning = '';
    for (const step of ['tune-target', 'seed-replica', 'await-lag-zero'] as const) {
      const raw: Record<string, string> = { ...inputs[step], 'settle-seconds': '1', tuning };
      const out = await runStep(step, (n) => raw[n], quiet);
      if (step === 'tune-target') tuning = out.outputs.tuning;
    }
    const longest = { ms: 0 };
    const load = new WriteLoad(
      [throughPgbouncer(fx.pair, bouncers[0])].map((t) => timed(t, longest)),
      300,
    );
    load.start();
    let out: Record<string, string>;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // Only the cutover's requests: the longest request before it is not what is measured.
      longest.ms = 0;
      const raw: Record<string, string> = { ...inputs.cutover, ...pgbouncerInputs(fx.pair, bouncers), tuning };
      out = (await runStep('cutover', (n) => raw[n], quiet)).outputs;
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await load.stop();
    }
    const stats = load.stats;
    return {
      failed: stats.failed,
      lost: (await fx.missingOnTarget(stats.ackedSeqs)).length,
      longestRequestMs: Math.round(longest.ms),
      writeBlockedMs: Number(out['write-blocked-ms']),
      heldMs: Number(out['pooler-held-ms']),
    };
  } finally {
    await Promise.all(bouncers.map((b) => b.destroy()));
    await fx.destroy();
  }
}

/** N cutovers through PgBouncer on fsync-on servers: failed requests (target 0), the clients' pause, the windows. */
export async function poolerCutovers(trials: number, add: (f: PoolerFigure) => void, pct: (v: number[], p: number) => number): Promise<void> {
  const runs: Trial[] = [];
  for (let i = 0; i < trials; i++) runs.push(await oneCutover());
  const label = 'postgres via pgbouncer, fsync on';
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  const lost = runs.reduce((n, r) => n + r.lost, 0);
  add({ section: 'pooler', name: `${label}: failed requests (${runs.length} cutovers)`, value: failed, unit: 'requests', target: '0', met: failed === 0 });
  add({ section: 'pooler', name: `${label}: acknowledged writes lost`, value: lost, unit: 'writes', target: '0', met: lost === 0 });
  const series: [string, (r: Trial) => number][] = [
    ['longest single request (client pause)', (r) => r.longestRequestMs],
    ['write-blocked (measured by cutover)', (r) => r.writeBlockedMs],
    ['requests held in the pooler (PAUSE to RESUME)', (r) => r.heldMs],
  ];
  for (const [what, pick] of series) {
    const v = runs.map(pick);
    for (const p of [50, 99]) add({ section: 'pooler', name: `${label}: ${what} p${p}`, value: pct(v, p), unit: 'ms' });
    add({ section: 'pooler', name: `${label}: ${what} max`, value: Math.max(...v), unit: 'ms' });
  }
}
