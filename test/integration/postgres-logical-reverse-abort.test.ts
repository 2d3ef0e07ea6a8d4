/**
 * A logical cutover with reverse-replication that aborts after the reverse publication and slot
 * were made on the target (inside the fence) and before promotion, on real servers (Debian's 15 to
 * embedded 17): the source gets its writes back, and no reverse slot stays on the target to keep its
 * WAL for ever; when the target is out of reach, the error says the slot may remain and how to drop
 * it. A re-run then replaces an earlier run's leftovers and cuts over.
 *
 * The fault after the slot is made: durability restored before promotion fails. PostgreSQL's own
 * tune-target never relaxes a durability setting, so the test writes that item of the `tuning`
 * input itself; the target refuses to restore it (a value it rejects, or a per-database setting
 * that overrides it). It is the one step between the slot and the promotion that can fail.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import type { StepName } from '../../src/inputs.js';
import { TextLog } from '../../src/log.js';
import { runStep } from '../../src/run-step.js';
import { loadSampleData, startPgPair, type PgPair } from '../../src/rehearse/postgres.js';
import { pgAppWrite } from '../harness/pg-app.js';
import { PausableProxy } from '../harness/proxy.js';

let pair: PgPair;
const lines: string[] = [];
/** Every write the application had acknowledged, by either side. */
const acked: number[] = [];

async function write(server: 'source' | 'target', seq: number): Promise<void> {
  await pgAppWrite(pair, server, seq);
  acked.push(seq);
}

function run(step: StepName, raw: Record<string, string>) {
  return runStep(step, (n) => raw[n], new TextLog((l) => lines.push(l)));
}

const common = () => ({ 'source-url': pair.source.url({ database: pair.appDatabase }), 'target-url': pair.target.url({ database: pair.appDatabase }) });

/** A `tuning` input whose one durability item the target is asked to restore to `original` before promotion. */
function tuning(original: string): string {
  const item = {
    name: 'random_page_cost',
    original,
    value: '4',
    reason: 'test',
    applies: 'reload',
    relaxesDurability: true,
    revertAtCutover: true,
    persistedOriginal: true,
  };
  return JSON.stringify({ engine: 'postgres', memoryBytes: 1 << 30, cpus: 2, items: [item] });
}

/** Rows of one query as the admin in the application's database (publications live per database). */
async function onApp<T extends pg.QueryResultRow>(server: 'source' | 'target', sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: pair[server].url({ database: pair.appDatabase }) });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** What of the way back is on the target: slots and publications named zdm_reverse. */
async function reverseOnTarget(): Promise<string[]> {
  const r = await onApp<{ what: string }>(
    'target',
    "SELECT 'slot' AS what FROM pg_replication_slots WHERE slot_name = 'zdm_reverse' UNION ALL SELECT 'publication' FROM pg_publication WHERE pubname = 'zdm_reverse'",
  );
  return r.map((x) => x.what).sort();
}

/** The forward subscription is still there: the target is still a replica. */
async function stillReplica(): Promise<boolean> {
  return (await onApp('target', "SELECT 1 FROM pg_subscription WHERE subname = 'zdm_replica'")).length === 1;
}

beforeAll(async () => {
  // wal_level = logical on the target too: the way back publishes from it.
  pair = await startPgPair({ sourceMajor: 15, targetMajor: 17, sourceSettings: { wal_level: 'logical' }, targetSettings: { wal_level: 'logical' } });
  await pair.target.query(`CREATE DATABASE ${pair.appDatabase}`);
  await loadSampleData(pair, 1);
  await run('seed-replica', {
    ...common(),
    'replication-user': pair.replicationUser,
    'replication-password': pair.replicationPassword,
    'target-data-dir': pair.target.dataDir,
  });
  await run('await-lag-zero', { ...common(), 'settle-seconds': '1', 'timeout-seconds': '120' });
}, 180_000);

afterAll(async () => {
  await pair?.destroy();
}, 60_000);

describe('reverse-replication: an abort after the reverse slot is made, before promotion', () => {
  it('aborts when durability cannot be restored: the source takes writes again, the reverse slot and publication leave the target', async () => {
    lines.length = 0;
    let message = '';
    await run('cutover', { ...common(), 'reverse-replication': 'true', tuning: tuning('not-a-number') }).catch((e) => (message = describeError(e)));
    // The slot was made: the abort came after it.
    expect(lines.join('\n')).toMatch(/reverse start point on the target: publication and logical slot zdm_reverse at [0-9A-F]+\/[0-9A-F]+/);
    expect(message).toMatch(
      /^cutover aborted, the source has its writes back and the target is still a replica: .*random_page_cost.*not-a-number"\. The way back made inside the fence was removed from the target: logical slot zdm_reverse and publication zdm_reverse\.$/,
    );
    await write('source', -1);
    expect(await reverseOnTarget()).toEqual([]);
    expect(await stillReplica()).toBe(true);
  }, 120_000);

  it('refuses before the fence when the target has no free replication slot, and makes nothing', async () => {
    const { used, max } = (
      await onApp<{ used: number; max: number }>(
        'target',
        "SELECT (SELECT count(*)::int FROM pg_replication_slots) AS used, current_setting('max_replication_slots')::int AS max",
      )
    )[0];
    const fill = Array.from({ length: max - used }, (_, i) => `filler_${i}`);
    for (const f of fill) await pair.target.query(`SELECT pg_create_physical_replication_slot('${f}')`);
    lines.length = 0;
    let message = '';
    try {
      await run('cutover', { ...common(), 'reverse-replication': 'true' }).catch((e) => (message = describeError(e)));
    } finally {
      for (const f of fill) await pair.target.query(`SELECT pg_drop_replication_slot('${f}')`);
    }
    expect(message).toMatch(
      /the reverse slot zdm_reverse needs a free replication slot on the target, and all \d+ are in use \(max_replication_slots\).* Nothing was changed\./,
    );
    expect(lines.join('\n')).not.toMatch(/fenced \(read-only\)/);
    await write('source', -2);
    expect(await reverseOnTarget()).toEqual([]);
  }, 120_000);

  it('refuses before the fence a reverse slot name whose slot something reads now, and leaves that slot alone', async () => {
    await pair.target.query(`SELECT pg_create_logical_replication_slot('zdm_busy', 'test_decoding')`);
    // A consumer of the slot: Debian's pg_recvlogical streaming from it.
    const reader = spawn('/usr/lib/postgresql/15/bin/pg_recvlogical', ['-d', pair.target.url(), '--slot', 'zdm_busy', '--start', '-f', '/dev/null'], {
      stdio: 'ignore',
    });
    let message = '';
    try {
      const deadline = Date.now() + 30_000;
      while (!(await pair.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_busy' AND active")).length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      lines.length = 0;
      await run('cutover', { ...common(), 'reverse-replication': 'true', 'reverse-replication-slot': 'zdm_busy' }).catch((e) => (message = describeError(e)));
      expect((await pair.target.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'zdm_busy' AND active")).length).toBe(1);
    } finally {
      reader.kill();
      await new Promise((r) => reader.once('exit', r));
      await pair.target.query(`SELECT pg_drop_replication_slot('zdm_busy')`);
    }
    expect(message).toMatch(
      /a replication slot named zdm_busy exists on the target and is in use \(walsender pid \d+\): it is no leftover .* Nothing was changed\./,
    );
    expect(lines.join('\n')).not.toMatch(/fenced \(read-only\)/);
    expect(await onApp('target', "SELECT 1 FROM pg_publication WHERE pubname = 'zdm_busy'")).toEqual([]);
    await write('source', -6);
  }, 120_000);

  it('says the slot may remain, with the SQL to drop it, when the target is lost after the slot is made; the source takes writes again', async () => {
    const proxy = new PausableProxy({ host: '127.0.0.1', port: pair.target.port });
    await proxy.start();
    // A per-database value wins over the configuration files: the restore polls for it in vain, a few seconds after the slot is made.
    await pair.target.query(`ALTER DATABASE ${pair.appDatabase} SET random_page_cost = 7`);
    const viaProxy = new URL(common()['target-url']);
    viaProxy.port = String(proxy.port);
    let message = '';
    const cutover = run('cutover', {
      ...common(),
      'target-url': viaProxy.toString(),
      // The old source's subscription would reach the target directly.
      'target-replication-address': `127.0.0.1:${pair.target.port}`,
      'reverse-replication': 'true',
      tuning: tuning('1.1'),
    }).catch((e) => (message = describeError(e)));
    try {
      const deadline = Date.now() + 60_000;
      while (!(await reverseOnTarget()).includes('slot') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await reverseOnTarget()).toContain('slot');
      // The target goes out of reach (every connection through the relay cut, new ones refused).
      await proxy.stop();
      await cutover;
    } finally {
      await proxy.stop().catch(() => undefined);
      await pair.target.query(`ALTER DATABASE ${pair.appDatabase} RESET random_page_cost`);
    }
    expect(message).toMatch(/^cutover aborted, the source has its writes back and the target is still a replica: /);
    expect(message).toMatch(
      /Dropping logical slot zdm_reverse on the target failed \(.+\): the slot zdm_reverse may remain on the target, where it keeps WAL for ever\. Drop it there: SELECT pg_drop_replication_slot\('zdm_reverse'\);/,
    );
    expect(message).toMatch(
      /Dropping publication zdm_reverse on the target failed \(.+\): it may remain there\. Drop it there: DROP PUBLICATION IF EXISTS "zdm_reverse";/,
    );
    expect(message).not.toContain(pair.target.password);
    await write('source', -3);
    expect(await stillReplica()).toBe(true);
    // It did remain; the SQL given removes it.
    expect(await reverseOnTarget()).toEqual(['publication', 'slot']);
    await onApp('target', "SELECT pg_drop_replication_slot('zdm_reverse')");
    await onApp('target', 'DROP PUBLICATION IF EXISTS "zdm_reverse"');
    expect(await reverseOnTarget()).toEqual([]);
  }, 180_000);

  it('a re-run replaces the leftover slot and publication (no subscription reads them) and cuts over with the way back running', async () => {
    // What a run killed inside the fence leaves behind: a slot at an older position, and the publication.
    await onApp('target', 'CREATE PUBLICATION zdm_reverse FOR ALL TABLES');
    const [{ lsn: old }] = await onApp<{ lsn: string }>('target', "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot('zdm_reverse', 'pgoutput')");
    await write('source', -4);
    lines.length = 0;
    const out = await run('cutover', { ...common(), 'reverse-replication': 'true' });
    expect(out.outputs['reverse-replication']).toBe('running');
    const made = /reverse start point on the target: publication and logical slot zdm_reverse at ([0-9A-F]+\/[0-9A-F]+)/.exec(lines.join('\n'));
    expect(made?.[1]).toBeDefined();
    expect(made?.[1]).not.toBe(old);
    const [{ lsn }] = await onApp<{ lsn: string }>('target', "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'zdm_reverse'");
    expect(lsn).not.toBe(old);
    // The way back carries a write of the new primary to the old source.
    await write('target', -5);
    const deadline = Date.now() + 30_000;
    let back = 0;
    while (back === 0 && Date.now() < deadline) {
      back = (await onApp('source', 'SELECT 1 FROM writes WHERE client_seq = -5')).length;
      if (!back) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(1);
    const onTarget = await onApp<{ s: number }>('target', 'SELECT client_seq::int AS s FROM writes WHERE client_seq < 0 ORDER BY 1');
    // No acknowledged write was lost, whichever runs came before.
    expect(onTarget.map((r) => r.s)).toEqual([...acked].sort((a, b) => a - b));
  }, 180_000);
});
