/**
 * Sequences inside the fence: logical replication carries no sequence changes, so the target's
 * sequences still stand where the schema load left them. Each gets the source's last_value and
 * is_called, read after the fence, when no session can call nextval on the source any more
 * (nextval is refused in a read-only transaction). last_value counts the values sessions have
 * cached, so no value the source handed out is handed out again by the target.
 */
import { SafetyError } from '../../../errors.js';
import { rows, quoteLiteral, type PgClient } from '../connect.js';
import type { PgSession } from '../session.js';

interface SeqValue {
  name: string;
  last_value: string;
  is_called: boolean;
}

/** Reads every sequence of the source database in one statement per 500 and sets it on the target; returns how many. */
export async function copySequences(s: PgSession, src: PgClient, tgt: PgClient): Promise<number> {
  const names = (
    await rows<{ name: string }>(
      src,
      "SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences WHERE schemaname NOT LIKE 'pg_temp%' ORDER BY 1",
    )
  ).map((r) => r.name);
  for (let i = 0; i < names.length; i += 500) {
    const batch = names.slice(i, i + 500);
    let values: SeqValue[];
    try {
      values = await rows<SeqValue & Record<string, unknown>>(
        src,
        batch.map((n) => `SELECT ${quoteLiteral(n)} AS name, last_value::text AS last_value, is_called FROM ${n}`).join(' UNION ALL '),
      );
    } catch (e) {
      throw new SafetyError(
        `cannot read the sequences of ${s.names.source} (${(e as Error).message}): the ${s.sourceEndpoint.input} role needs SELECT on every sequence (GRANT SELECT ON ALL SEQUENCES IN SCHEMA ... TO ...). Without their values the target would hand out used numbers again.`,
      );
    }
    // One statement per batch: the fence is open while this runs.
    await tgt
      .query('SELECT setval(n::regclass, v, c) FROM unnest($1::text[], $2::bigint[], $3::bool[]) AS t(n, v, c)', [
        values.map((v) => v.name),
        values.map((v) => v.last_value),
        values.map((v) => v.is_called),
      ])
      .catch((e: Error) => {
        throw new SafetyError(`cannot set the sequences on ${s.names.target} to the source's values: ${e.message}`);
      });
  }
  return names.length;
}
