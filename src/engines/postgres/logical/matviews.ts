/**
 * Materialized views after a logical switch. pg_dump --schema-only creates them WITH NO DATA, and
 * logical replication carries no matview rows, so on the new primary they are empty and unreadable
 * ("has not been populated") until refreshed. With refresh-materialized-views they are refreshed
 * right after the switch, not inside the fence: a REFRESH rebuilds the whole view, which inside the
 * fence would be write downtime for every table; after it, only readers of that view wait for its lock.
 */
import { describeError } from '../../../errors.js';
import { info, warning, type Note } from '../../../notes.js';
import { rows, type PgClient } from '../connect.js';
import type { PgSession } from '../session.js';

const POPULATED_NOT = '55000';

/** Refreshes every materialized view of the new primary's database (views over views after those they read); one note each. */
export async function refreshMatviews(s: PgSession, tgt: PgClient): Promise<Note[]> {
  let left = (await rows<{ v: string }>(tgt, "SELECT format('%I.%I', schemaname, matviewname) AS v FROM pg_matviews ORDER BY 1")).map((r) => r.v);
  const notes: Note[] = [];
  // A view that reads another not yet refreshed fails with 55000: it is tried again once the others are done.
  for (let pass = 0; left.length && pass < 10; pass++) {
    const again: string[] = [];
    for (const v of left) {
      const t0 = Date.now();
      try {
        await tgt.query(`REFRESH MATERIALIZED VIEW ${v}`);
        notes.push(info(`refreshed materialized view ${v} on ${s.names.newPrimary} in ${Date.now() - t0} ms (refresh-materialized-views)`));
      } catch (e) {
        if ((e as { code?: string }).code === POPULATED_NOT && again.length + 1 < left.length) again.push(v);
        else notes.push(warning(`REFRESH MATERIALIZED VIEW ${v} failed on ${s.names.newPrimary}: ${describeError(e)}. Run it there by hand.`));
      }
    }
    if (again.length === left.length) break;
    left = again;
  }
  return notes;
}

/** Without refresh-materialized-views: the views the new primary cannot read yet, named with the statement that fixes them. */
export async function unpopulatedMatviews(s: PgSession, tgt: PgClient): Promise<Note[]> {
  const v = (await rows<{ v: string }>(tgt, "SELECT format('%I.%I', schemaname, matviewname) AS v FROM pg_matviews WHERE NOT ispopulated ORDER BY 1")).map(
    (r) => r.v,
  );
  if (!v.length) return [];
  return [
    warning(
      `${v.length} materialized view(s) on ${s.names.newPrimary} are empty and cannot be read until refreshed (a logical copy carries no matview rows): ${v.join(', ')}. Run REFRESH MATERIALIZED VIEW for each there, or set refresh-materialized-views: true.`,
    ),
  ];
}
