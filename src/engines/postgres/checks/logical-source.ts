/** What logical replication needs of the source server: wal_level = logical, a free slot and a free WAL sender. */
import { verdict, type CheckUnit } from '../../../checks/check.js';
import { one } from '../connect.js';
import type { PgCheckContext } from './context.js';
import { logicalOnly } from './logical-gate.js';

export const logicalWalLevel: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-wal-level',
  title: 'source wal_level for logical replication',
  scopes: ['seed'],
  async run(c) {
    const { wal_level: level } = await c.sourceSettings();
    return verdict(
      level === 'logical',
      level === 'logical'
        ? 'logical'
        : `wal_level is ${level} on the source; logical replication needs logical. Set wal_level = logical (ALTER SYSTEM SET wal_level = logical; managed services: their logical replication parameter, e.g. rds.logical_replication = 1) and restart the source.`,
    );
  },
});

export const logicalSlot: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-slot',
  title: 'source replication slot for the subscription',
  scopes: ['seed'],
  async run(c) {
    const max = Number((await c.sourceSettings()).max_replication_slots);
    // zdm's own slot, left by an earlier attempt, is replaced: it counts as free.
    const { used } = await one<{ used: number }>(await c.s.source(), 'SELECT count(*) FILTER (WHERE slot_name <> $1)::int AS used FROM pg_replication_slots', [
      c.s.inputs.replicationSlot,
    ]);
    const free = max - used;
    return verdict(
      free >= 1,
      free >= 1
        ? `${free} of ${max} free`
        : `all ${max} replication slots of the source are in use (max_replication_slots = ${max}); the subscription needs one. Raise max_replication_slots on the source (restart), or drop an unused slot (SELECT pg_drop_replication_slot(name) FROM pg_replication_slots WHERE NOT active).`,
    );
  },
});

export const logicalWalSender: CheckUnit<PgCheckContext> = logicalOnly({
  id: 'logical-wal-sender',
  title: 'source WAL sender for the subscription',
  scopes: ['seed'],
  async run(c) {
    const max = Number((await c.sourceSettings()).max_wal_senders);
    const { senders } = await one<{ senders: number }>(
      await c.s.source(),
      "SELECT count(*)::int AS senders FROM pg_stat_activity WHERE backend_type = 'walsender'",
    );
    const free = max - senders;
    return verdict(
      free >= 1,
      free >= 1
        ? `${free} of ${max} free`
        : `all ${max} WAL senders of the source are busy (max_wal_senders = ${max}); the subscription streams through one. Raise max_wal_senders on the source (restart).`,
    );
  },
});
