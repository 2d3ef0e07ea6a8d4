/** What streaming needs on the source: WAL for replicas, free WAL senders, a replication slot. */
import { verdict, type CheckUnit } from '../../../checks/check.js';
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
