/** What streaming needs on the source: WAL for replicas, free WAL senders, a replication slot. */
import { ok, verdict, warn, type CheckUnit } from '../../../checks/check.js';
import { one, rows } from '../connect.js';
import type { PgCheckContext } from './context.js';

export const walLevel: CheckUnit<PgCheckContext> = {
  id: 'source-wal-level',
  title: 'source wal_level',
  scopes: ['seed'],
  async run(c) {
    const { wal_level: level } = await c.sourceSettings();
    const good = level === 'replica' || level === 'logical';
    return verdict(good, good ? level : `wal_level is ${level} on the source: set wal_level = replica in its postgresql.conf and restart it.`);
  },
};

export const walSenders: CheckUnit<PgCheckContext> = {
  id: 'source-wal-senders',
  title: 'source max_wal_senders',
  scopes: ['seed'],
  async run(c) {
    const max = (await c.sourceSettings()).max_wal_senders;
    const { senders } = await one<{ senders: number }>(
      await c.s.source(),
      "SELECT count(*)::int AS senders FROM pg_stat_activity WHERE backend_type = 'walsender'",
    );
    const free = Number(max) - senders;
    return verdict(
      free >= 2,
      free >= 2 ? `${free} of ${max} free` : `only ${free} of max_wal_senders = ${max} free; the copy needs 2. Raise max_wal_senders on the source (restart).`,
    );
  },
};

export const replicationSlot: CheckUnit<PgCheckContext> = {
  id: 'replication-slot',
  title: 'replication slot',
  scopes: ['seed'],
  async run(c) {
    const slot = c.s.inputs.replicationSlot;
    const max = (await c.sourceSettings()).max_replication_slots;
    const slots = await rows<{ slot_name: string; active: boolean }>(await c.s.source(), 'SELECT slot_name, active FROM pg_replication_slots');
    const ours = slots.find((r) => r.slot_name === slot);
    const slotsFree = Number(max) - slots.length + (ours ? 1 : 0);
    // With reseed the slot's user is the standby being replaced: seeding stops it first, which frees the slot.
    const busy = Boolean(ours?.active) && !(c.s.inputs.reseed && (await c.alreadyReplica()));
    return verdict(
      slotsFree >= 1 && !busy,
      busy
        ? `slot ${slot} is in use by another connection on the source; choose another replication-slot or stop the replica that uses it.`
        : slotsFree >= 1
          ? `${slot}${ours ? ' (left by an earlier attempt; it will be recreated)' : ''}`
          : `no free replication slot (max_replication_slots = ${max}). Raise it on the source (restart).`,
    );
  },
};

/**
 * What bounds the WAL the slot keeps on the source while the target is down or slow: by default
 * nothing (max_slot_wal_keep_size = -1), and an abandoned migration then fills the source's disk.
 * A warning with the setting to make, not a change behind the user's back.
 */
export const slotWalBound: CheckUnit<PgCheckContext> = {
  id: 'slot-wal-bound',
  title: 'source WAL kept for the slot',
  scopes: ['seed'],
  async run(c) {
    const r = await rows<{ keep: string }>(await c.s.source(), "SELECT setting AS keep FROM pg_settings WHERE name = 'max_slot_wal_keep_size'");
    const keep = r[0]?.keep;
    const atLimit =
      'past it PostgreSQL invalidates the slot (wal_status = lost) and the target must be seeded again; `zdm status` shows the WAL held and the time until the disk is full, `zdm abort` drops the slot';
    if (keep === undefined)
      return warn(
        `PostgreSQL before 13 cannot bound the WAL a slot keeps: while the target is down or behind, the source keeps all of it. Watch it with zdm status; abort drops the slot.`,
      );
    if (keep === '-1')
      return warn(
        `max_slot_wal_keep_size = -1: the slot keeps WAL without bound while the target is down or behind, until the source's disk is full. Set it on the source, e.g. ALTER SYSTEM SET max_slot_wal_keep_size = '<about half its free disk>'; SELECT pg_reload_conf(); ${atLimit}`,
      );
    return ok(`max_slot_wal_keep_size = ${keep} MB; ${atLimit}`);
  },
};
