import { parseArgs } from 'node:util';
import { UserError } from './errors.js';

/**
 * Parses `--name value` / `--name=value` flags with node's util.parseArgs; `boolean` names take no
 * value (or `--name=false`). An unknown flag is refused with the valid ones and the closest match.
 */
export function parseFlags(args: string[], known: string[], boolean: string[] = []): Map<string, string> {
  const all = [...known, ...boolean];
  // Booleans as strings, so that `--dry-run=false` keeps working as before; a bare `--dry-run` is true.
  const argv = args.map((a) => (boolean.some((b) => a === `--${b}`) ? `${a}=true` : a));
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(all.map((n) => [n, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | undefined> });
  } catch (e) {
    throw flagError(e as Error & { code?: string }, argv, all);
  }
  return new Map(Object.entries(values).filter((kv): kv is [string, string] => kv[1] !== undefined));
}

function flagError(e: Error & { code?: string }, argv: string[], all: string[]): UserError {
  const valid = `Valid flags: ${all.map((k) => `--${k}`).join(', ')}`;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = /'(-{1,2}[^'\s]+)'/.exec(e.message)?.[1]?.replace(/^-+/, '').split('=')[0] ?? '';
    const near = closest(name, all);
    return new UserError(`unknown flag --${name}. ${valid}${near ? `. Did you mean --${near}?` : ''}`);
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(e.message)?.[1] ?? argv.find((a) => !a.startsWith('--')) ?? '';
    return new UserError(`unexpected argument ${JSON.stringify(arg)}: flags look like --name value`);
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /--([a-z0-9-]+)/.exec(e.message)?.[1] ?? '';
    return new UserError(`flag --${name} needs a value`);
  }
  return new UserError(`${e.message}. ${valid}`);
}

/** The known name closest to a mistyped one (edit distance at most 2, or a prefix), if any. */
export function closest(name: string, names: string[]): string | undefined {
  let best: { n: string; d: number } | undefined;
  for (const n of names) {
    const d = n.startsWith(name) && name.length >= 3 ? 1 : distance(name, n);
    if (d <= 2 && (!best || d < best.d)) best = { n, d };
  }
  return best?.n;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
