import { UserError } from './errors.js';

/** Parses `--name value` / `--name=value` flags; `boolean` names take no value. */
export function parseFlags(args: string[], known: string[], boolean: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw new UserError(`unexpected argument ${JSON.stringify(a)}: flags look like --name value`);
    const name = m[1];
    if (!known.includes(name) && !boolean.includes(name)) {
      throw new UserError(`unknown flag --${name}. Valid flags: ${[...known, ...boolean].map((k) => `--${k}`).join(', ')}`);
    }
    if (boolean.includes(name)) {
      out.set(name, m[2] ?? 'true');
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new UserError(`flag --${name} needs a value`);
    out.set(name, value);
  }
  return out;
}
