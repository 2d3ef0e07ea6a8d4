/** Runs one step from raw inputs: the single path shared by the action, the CLI and the rehearsal. */
import type { StepContext } from './engines/engine.js';
import { LocalHost } from './hosts/local.js';
import { withOpenClientsClosed } from './engines/open-clients.js';
import { failedServerOf, lostServerOf } from './engines/server-lost.js';
import { describeError, SideError, UserError } from './errors.js';
import { describeEndpoint, directEndpoints, type Endpoint, type StepSides } from './hosts/endpoint.js';
import { openTransport } from './hosts/transport.js';
import { AUDIT_STEPS, readInputs, secretValues, type Inputs, type RawInputs, type StepName } from './inputs.js';
import type { Log } from './log.js';
import { sidesOf, STEP_RUNNERS, type StepResult } from './steps/index.js';
import { Journal } from './state/journal.js';
import { writeAudit } from './state/audit.js';
import { observeServers } from './state/observe.js';
import { StepFailed } from './steps/step.js';

/** What a caller may put in place of the defaults: a test's skewed clock, a target host that reports little free disk. */
export type StepOverrides = Partial<Pick<StepContext, 'clock' | 'targetHost' | 'confirm'>>;

export async function runStep<S extends StepName>(step: S, raw: RawInputs, log: Log, overrides: StepOverrides = {}): Promise<StepResult<S>> {
  const secrets = secretValues(step, raw);
  for (const s of secrets) log.secret(s);
  const inputs = readInputs(step, raw);
  const activity = new ActivityLog(log);
  // The sides as the step reaches them, for naming a lost server: direct until the transport says otherwise.
  const sides: Endpoint[] = Object.values(directEndpoints(inputs)).filter((e) => e !== undefined);
  // The migration record lives on the target host, written before the step changes anything.
  const journal = await Journal.open(step, inputs, overrides.targetHost ?? new LocalHost(), activity, maskWith(secrets));
  await journal.started();
  try {
    const result = await runWith(step, inputs, activity, { ...overrides, journal }, sides);
    // The step is done (a promotion cannot be taken back): a record that cannot be written is a warning, never its failure.
    await journal
      .succeeded(result.outputs)
      .catch((w: unknown) => activity.warn(`the step succeeded, but its outcome could not be written into the migration record: ${describeError(w)}`));
    await audited(step, journal, result, activity);
    return result;
  } catch (e) {
    const err = stepError(e, step, sides, activity.activity);
    await journal.failed(err).catch((w: unknown) => activity.warn(`could not write the failure into the migration record: ${describeError(w)}`));
    await audited(step, journal, err instanceof StepFailed ? err.result : undefined, activity);
    throw err;
  }
}

/**
 * A step that changes something (AUDIT_STEPS) rewrites the audit record from the migration record,
 * offers its path as the `audit-record` output and adds its page to the step's summary. A failure
 * to write it is a warning: the step's own result stands.
 */
async function audited(step: StepName, journal: Journal, result: StepResult<StepName> | undefined, log: Log): Promise<void> {
  if (!(AUDIT_STEPS as readonly StepName[]).includes(step)) return;
  try {
    const { path, markdown } = await writeAudit(journal.store, journal.record);
    if (!result) return;
    (result.outputs as Record<string, string>)['audit-record'] = path;
    result.summary = `${result.summary}\n\n${markdown}`;
  } catch (w) {
    log.warn(`could not write the audit record: ${describeError(w)}`);
  }
}

/** Replaces every secret in a text (for what goes into the migration record). */
function maskWith(secrets: string[]): (s: string) => string {
  const sorted = secrets.filter((x) => x.length > 0).sort((a, b) => b.length - a.length);
  return (s) => sorted.reduce((t, x) => t.split(x).join('***'), s);
}

async function runWith<S extends StepName>(
  step: S,
  inputs: Inputs,
  log: Log,
  overrides: StepOverrides & { journal: Journal },
  sides: Endpoint[],
): Promise<StepResult<S>> {
  const transport = await openTransport(inputs, log);
  sides.splice(0, sides.length, ...[transport.source, transport.target].filter((e) => e !== undefined));
  try {
    const local = new LocalHost();
    const ctx: StepContext = {
      inputs,
      source: transport.source,
      target: transport.target,
      log,
      targetHost: local,
      sourceHost: transport.sourceHost,
      runnerHost: local,
      ssh: transport.ssh,
      ...overrides,
    };
    return await withOpenClientsClosed(async () => {
      try {
        return await STEP_RUNNERS[step](ctx);
      } finally {
        // Which servers the sides are, for the audit record, while the step's connections can still be made.
        if ((AUDIT_STEPS as readonly StepName[]).includes(step))
          await observeServers(ctx).catch((w: unknown) => log.warn(`audit record: could not observe the servers: ${describeError(w)}`));
      }
    });
  } finally {
    await transport.close();
  }
}

/** A Log that remembers which section the step is in: what zdm was doing when something broke. */
class ActivityLog implements Log {
  private current: string | undefined;
  /** The innermost section an error left, kept after the sections have closed. */
  private failedIn: string | undefined;
  get activity(): string | undefined {
    return this.failedIn ?? this.current;
  }
  constructor(private readonly log: Log) {}
  info(m: string): void {
    this.log.info(m);
  }
  warn(m: string): void {
    this.log.warn(m);
  }
  secret(v: string): void {
    this.log.secret(v);
  }
  async group<T>(title: string, fn: () => Promise<T>): Promise<T> {
    const before = this.current;
    this.current = title;
    try {
      return await this.log.group(title, fn);
    } catch (e) {
      this.failedIn ??= title;
      throw e;
    } finally {
      this.current = before;
    }
  }
}

/**
 * The error a step ends with, errors about one side worded once, here, with the step's names for
 * the sides (rollback: "the new primary" where cutover says "the source").
 */
export function stepError(e: unknown, step: StepName, endpoints: Endpoint[], activity: string | undefined, sides: StepSides = sidesOf(step)): unknown {
  if (e instanceof SideError) return e.for(sides.names);
  return lostServerError(e, step, endpoints, activity, sides) ?? failedStatementError(e, step, endpoints, activity, sides) ?? e;
}

/**
 * An unexpected error from a statement on one side (a privilege missing, a server that refused a
 * statement zdm did not foresee), as a SideError: the same words, and which side it came from.
 */
function failedStatementError(e: unknown, step: StepName, endpoints: Endpoint[], activity: string | undefined, sides: StepSides): UserError | undefined {
  if (e instanceof UserError) return undefined;
  const failed = failedServerOf(e);
  const endpoint = failed && endpoints.find((s) => s.input === failed.server.input);
  const side = failed && sides.sideOf(failed.server.input);
  if (!failed || !endpoint || !side) return undefined;
  const doing = activity ? `${step} (${activity})` : step;
  const what = describeError(e).replace(/^unexpected error: /, '');
  return new SideError(side, failed.server.input, (name) => `unexpected error on ${describeEndpoint(endpoint, name)} during ${doing}: ${what}`, {
    cause: e,
    names: sides.names,
  });
}

/**
 * An unexpected error that is a lost connection to a server, as a SideError: which server (as the
 * inputs name it, never with credentials), what the step was doing, and that the step can run
 * again once the server is back. Steps read the servers' real state when they start, so a re-run
 * continues or refuses from where things are.
 */
function lostServerError(e: unknown, step: StepName, endpoints: Endpoint[], activity: string | undefined, sides: StepSides): UserError | undefined {
  if (e instanceof UserError) return undefined;
  const lost = lostServerOf(e);
  if (!lost) return undefined;
  const { input, at } = lost.server;
  // The client was opened on an endpoint's connectUrl; the user knows the server by the URL they gave.
  const endpoint = endpoints.find((s) => s.input === input);
  const ssh = endpoint?.reach.kind === 'ssh-forward';
  const doing = activity ? `${step} (${activity})` : step;
  const message = (server: string) =>
    `lost the connection to ${server} during ${doing}: ${lost.error.message}. ` +
    `The server stopped or restarted, or the network${ssh ? ' or the SSH tunnel' : ''} between this runner and it broke. ` +
    `Once it is up and reachable again, run ${step} again: it starts from the servers' real state.`;
  const side = sides.sideOf(input);
  if (!endpoint || !side) return new UserError(message(`${at} (${input})`), { cause: e });
  return new SideError(side, input, (name) => message(describeEndpoint(endpoint, name)), { cause: e, names: sides.names });
}
