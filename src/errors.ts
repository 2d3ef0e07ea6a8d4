import { CUTOVER_NAMES, type Side, type SideNames } from './hosts/endpoint.js';

/** Errors the user can cause and fix; their message is the whole answer, no stack trace. */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** A bad input value: the message names the input and what to do. */
export class InputError extends UserError {
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super(`input ${input} ${problem}`);
    this.name = 'InputError';
  }
}

/** A step refused to go on because it could not prove it safe; nothing was changed past what it says. */
export class SafetyError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SafetyError';
  }
}

/**
 * A fault of one side (its server lost in the middle of a step, out of reach, refusing the login),
 * raised by whatever met it without deciding how the side is called: it carries the side as the
 * engine sees it (`source`: the side it reads from and fences; `target`: the side it replicates to
 * and promotes), the input the side came from, and a template that puts the side's name into the
 * message. The step words it with its own names (cutover: "the source"; rollback, the same switch
 * the other way: "the new primary"), once: `message` holds cutover's wording until then.
 */
export class SideError extends UserError {
  constructor(
    readonly side: Side,
    /** The input that names the side's server, e.g. `target-url`: what the user fixes. */
    readonly input: string,
    /** The message, given the step's name for the side (e.g. "the new primary"). */
    readonly template: (sideName: string) => string,
    options: { cause?: unknown; names?: SideNames } = {},
  ) {
    super(template((options.names ?? CUTOVER_NAMES)[side]), { cause: options.cause });
    this.name = 'SideError';
  }

  /** The message under a step's names for the sides. */
  worded(names: SideNames): string {
    return this.template(names[this.side]);
  }

  /** The same error, worded with a step's names: what the step throws. */
  for(names: SideNames): SideError {
    return new SideError(this.side, this.input, this.template, { cause: this.cause, names });
  }
}

/**
 * The message to show a user for any error: user errors as they are, others with their cause chain.
 * A step that calls the sides by other names than cutover's (rollback) passes them.
 */
export function describeError(err: unknown, names?: SideNames): string {
  if (err instanceof SideError && names) return err.worded(names);
  if (err instanceof UserError) return err.message;
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return `unexpected error: ${parts.join(': ')}`;
}
