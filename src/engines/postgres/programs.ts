/** Finding PostgreSQL's client programs (pg_basebackup, pg_waldump, pg_rewind) of a given major on a host. */
import { UserError } from '../../errors.js';
import type { Host } from '../../hosts/host.js';
import type { PgSession } from './session.js';

/** Finds a PostgreSQL client program of the given major on the target host. */
export async function findPgProgram(host: Host, major: number, program: string): Promise<string | undefined> {
  for (const candidate of [`/usr/lib/postgresql/${major}/bin/${program}`, `/usr/pgsql-${major}/bin/${program}`, program]) {
    const r = await host.run([candidate, '--version']).catch(() => undefined);
    const m = r && r.code === 0 ? /(\d+)(?:\.\d+)?/.exec(r.stdout) : null;
    if (m && Number(m[1]) === major) return candidate;
  }
  return undefined;
}

export function pgProgram(s: PgSession, major: number, program: string): Promise<string> {
  return findPgProgram(s.ctx.targetHost, major, program).then((p) => {
    if (!p)
      throw new UserError(
        `${program} for PostgreSQL ${major} was not found on the target host: install the PostgreSQL ${major} server package (Debian: postgresql-${major}).`,
      );
    return p;
  });
}
