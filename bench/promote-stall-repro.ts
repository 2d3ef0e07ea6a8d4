/**
 * The 5 s promotion stall, reproduced at will (docs/performance.md): after the source stops, the
 * target's postmaster is held (SIGSTOP) so that the WAL receiver the startup process requests
 * stays starting; then the promote file and SIGUSR2 to the startup process (what pg_promote and
 * the postmaster do). With wal_retrieve_retry_interval 5s the promotion sleeps out the rest of it.
 *   VARIANTS=before,after npx tsx bench/promote-stall-repro.ts
 */
import pg from 'pg';
import { readFile, writeFile } from 'node:fs/promises';
import type { StepName } from '../src/inputs.js';
import { TextLog } from '../src/log.js';
import { runStep } from '../src/run-step.js';
import { PostgresFixture } from '../src/rehearse/postgres.js';

const run = (step: StepName, raw: Record<string, string>) => runStep(step, (n) => raw[n], new TextLog(() => undefined));
for (const v of (process.env.VARIANTS ?? 'before,after').split(',')) {
  const fx = await PostgresFixture.start({ durable: true });
  try {
    await fx.loadSampleData(1);
    const inputs = fx.stepInputs({ fence: 'shutdown', targetMemory: '512MB' });
    const tt = { ...inputs['tune-target'], ...(v === 'before' ? { 'tuning-overrides': 'wal_retrieve_retry_interval=5s' } : {}) };
    const tuning = (await run('tune-target', tt)).outputs.tuning;
    await run('seed-replica', { ...inputs['seed-replica'], tuning });
    await run('await-lag-zero', { ...inputs['await-lag-zero'], 'settle-seconds': '1' });
    const c = new pg.Client({ connectionString: fx.pair.target.url() });
    await c.connect();
    await c.query("ALTER SYSTEM SET log_min_messages = 'debug2'");
    await c.query('SELECT pg_reload_conf()');
    await fx.pair.source.stop('fast');
    await new Promise((r) => setTimeout(r, 1000));
    const w = async () =>
      (
        await c.query(
          "SELECT (SELECT wait_event FROM pg_stat_activity WHERE backend_type='startup') AS w, (SELECT pid FROM pg_stat_activity WHERE backend_type='startup') AS pid",
        )
      ).rows[0];
    const pmPid = Number((await readFile(`${fx.pair.target.dataDir}/postmaster.pid`, 'utf8')).split('\n')[0]);
    // The postmaster held: the next WAL receiver the startup process requests stays STARTING (no process).
    process.kill(pmPid, 'SIGSTOP');
    let st = await w();
    let steady = 0;
    while (steady < 20) {
      await new Promise((r) => setTimeout(r, 10));
      st = await w();
      steady = st.w === 'RecoveryWalStream' ? steady + 1 : 0;
    }
    // What pg_promote does, with the postmaster's forwarding done by hand: the promote file, then SIGUSR2 to the startup process.
    await writeFile(`${fx.pair.target.dataDir}/promote`, '');
    const p0 = Date.now();
    process.kill(Number(st.pid), 'SIGUSR2');
    setTimeout(() => process.kill(pmPid, 'SIGCONT'), 300);
    const before = st;
    const seen = new Set<string>();
    for (;;) {
      const r = (await c.query("SELECT pg_is_in_recovery() AS rec, (SELECT wait_event FROM pg_stat_activity WHERE backend_type='startup') AS w")).rows[0];
      if (r.w) seen.add(r.w);
      if (!r.rec) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    console.log(JSON.stringify({ v, atPromote: before, promoteMs: Date.now() - p0, waitEventsDuringPromotion: [...seen] }));
    const log = await readFile(fx.pair.target.logFile, 'utf8');
    console.log(
      log
        .split('\n')
        .filter((l) => /promote|WAL source|wal receiver|walreceiver|primary server|recovery|retry|waiting for WAL/i.test(l))
        .slice(-25)
        .join('\n'),
    );
    await c.end();
  } finally {
    await fx.destroy();
  }
}
