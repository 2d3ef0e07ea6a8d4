/**
 * The 5 s promotion stall, measured (docs/performance.md): repeats the shutdown-fence switch on
 * durable servers under 300 writes/s, alternating `before` (wal_retrieve_retry_interval kept at
 * 5s by tuning-overrides) and `after` (tune-target's 100ms), and traces the target's startup
 * process wait event every 5 ms; a slow promotion prints its trace and the target's log tail.
 *   N=15 VARIANTS=before,after npx tsx bench/promote-stall.ts
 */
import pg from 'pg';
import * as os from 'node:os';
import { readFile } from 'node:fs/promises';
import type { StepName } from '../src/inputs.js';
import { TextLog } from '../src/log.js';
import { runStep } from '../src/run-step.js';
import { PostgresFixture } from '../src/rehearse/postgres.js';
import { WriteLoad } from '../src/rehearse/writer.js';

const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));
const variants = (process.env.VARIANTS ?? 'before,after').split(',');
const n = Number(process.env.N ?? 10);
interface Row {
  v: string;
  promoteMs: number;
  blocked: number;
  load: number;
}
const out: Row[] = [];
for (let i = 0; i < n; i++) {
  for (const v of variants) {
    const fx = await PostgresFixture.start({ durable: true });
    const trace: string[] = [];
    let stop = false;
    try {
      await fx.loadSampleData(1);
      const load = new WriteLoad(fx.writeTargets(), 300);
      load.start();
      const inputs = fx.stepInputs({ fence: 'shutdown', targetMemory: '512MB' });
      const tt = { ...inputs['tune-target'], ...(v === 'before' ? { 'tuning-overrides': 'wal_retrieve_retry_interval=5s' } : {}) };
      const tuning = (await run('tune-target', tt)).outputs.tuning;
      await run('seed-replica', { ...inputs['seed-replica'], tuning });
      await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
      const c = new pg.Client({ connectionString: fx.pair.target.url() });
      c.on('error', () => undefined);
      await c.connect();
      const [{ rri }] = (await c.query("SELECT current_setting('wal_retrieve_retry_interval') AS rri")).rows;
      const poll = (async () => {
        let last = '';
        while (!stop) {
          try {
            const r = await c.query(
              "SELECT coalesce((SELECT wait_event FROM pg_stat_activity WHERE backend_type='startup'),'-') AS w, (SELECT status FROM pg_stat_wal_receiver) AS rcv, pg_is_in_recovery() AS rec",
            );
            const s = `${r.rows[0].w}/${r.rows[0].rcv}/${r.rows[0].rec}`;
            if (s !== last) trace.push(`${Date.now()} ${s}`);
            last = s;
          } catch {
            /* target restarting */
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const res = await run('cutover', { ...inputs.cutover, tuning });
      stop = true;
      await poll;
      await c.end().catch(() => undefined);
      await load.stop();
      const tl = res.timeline ?? [];
      const at = (p: string) => tl.find((m) => m.phase === p)?.at ?? NaN;
      const rec = {
        v,
        i,
        rri,
        promoteMs: at('recovery-end') - at('promote-request'),
        blocked: Number(res.outputs['write-blocked-ms']),
        load: os.loadavg()[0],
        promoteAt: at('promote-request'),
        trace,
      };
      const log = await readFile(fx.pair.target.logFile, 'utf8').catch(() => '');
      console.log(JSON.stringify({ ...rec, trace: rec.promoteMs > 1000 ? trace : undefined }));
      if (rec.promoteMs > 1000) console.log(log.split('\n').slice(-40).join('\n'));
      out.push(rec);
    } catch (e) {
      console.log(JSON.stringify({ v, i, error: String(e) }));
    } finally {
      stop = true;
      await fx.destroy();
    }
  }
}
const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
for (const v of variants) {
  const r = out.filter((x) => x.v === v);
  const pm = r.map((x) => x.promoteMs),
    wb = r.map((x) => x.blocked);
  console.log(
    `${v}: n=${r.length} promote p50 ${pct(pm, 50)} p99 ${pct(pm, 99)} max ${Math.max(...pm)} | write-blocked p50 ${pct(wb, 50)} p99 ${pct(wb, 99)} max ${Math.max(...wb)} | load ${r.map((x) => x.load.toFixed(1)).join(',')}`,
  );
}
