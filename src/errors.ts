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

/** The message to show a user for any error: user errors as they are, others with their cause chain. */
export function describeError(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return `unexpected error: ${parts.join(': ')}`;
}
