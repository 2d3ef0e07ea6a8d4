/** What a standby's primary_conninfo names: the application_name it reports, and its passfile beside the data directory. */
import * as path from 'node:path';

/** The application_name a zdm-made standby reports to its primary (pg_stat_replication). */
export const APPLICATION_NAME = 'zdm_target';

/** The standby's passfile, beside (not inside) its data directory and named after it. */
export function passfilePath(dataDir: string): string {
  return path.join(path.dirname(path.resolve(dataDir)), `.zdm-${path.basename(path.resolve(dataDir))}.pgpass`);
}
