/** Logging in to each server: the first checks of preflight and seed-replica, whose limits later checks compare. */
import type { Inspection, ServerLimits } from '../engines/engine.js';
import { ok, type CheckUnit } from './check.js';

type Side = 'source' | 'target';

/** Each server's version and limits, read once per run by its connection check and shared with the checks that compare them. */
export class ServerLimitsOnce {
  private readonly read = new Map<Side, Promise<ServerLimits>>();
  constructor(private readonly engine: Pick<Inspection, 'serverLimits'>) {}

  get(which: Side): Promise<ServerLimits> {
    if (!this.read.has(which)) this.read.set(which, this.engine.serverLimits(which));
    return this.read.get(which)!;
  }

  /** Undefined when logging in failed (its connection check has failed already). */
  known(which: Side): Promise<ServerLimits | undefined> {
    return this.get(which).catch(() => undefined);
  }
}

const connection = (which: Side, limits: ServerLimitsOnce): CheckUnit => ({
  id: `${which}-connection`,
  title: `${which} connection`,
  scopes: ['preflight', 'seed'],
  run: async () => ok((await limits.get(which)).version),
});

/** Logging in to the source, then to the target. */
export function connectionChecks(limits: ServerLimitsOnce): CheckUnit[] {
  return [connection('source', limits), connection('target', limits)];
}
