/** The `tuning-overrides` input: any value of the plan, kernel or engine, set by the user instead of computed. */
import { InputError } from '../errors.js';
import { checkKernelOverrides, KERNEL_KEYS } from './sysctl.js';

const INPUT = 'tuning-overrides';

/** Parses `name=value` lines (blank lines and # comments skipped) or a JSON object. */
export function parseOverrides(text: string | undefined): Record<string, string> {
  const t = (text ?? '').trim();
  if (!t) return {};
  if (t.startsWith('{')) {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch {
      throw new InputError(INPUT, 'starts with { but is not valid JSON: give a JSON object such as {"innodb_io_capacity": "4000"}, or name=value lines');
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new InputError(INPUT, 'must be a JSON object of setting names to values');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== 'string' && typeof v !== 'number') throw new InputError(INPUT, `gives ${k} a value that is not a string or number`);
      out[k] = String(v).trim();
    }
    return out;
  }
  const out: Record<string, string> = {};
  for (const [n, raw] of t.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0 || !line.slice(eq + 1).trim())
      throw new InputError(INPUT, `line ${n + 1} (${JSON.stringify(line)}) is not name=value: write one setting per line, e.g. innodb_io_capacity=4000`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Refuses names zdm does not manage for this engine and kernel values of the wrong form. */
export function checkOverrides(overrides: Record<string, string>, engineNames: readonly string[], engine: string): void {
  const unknown = Object.keys(overrides).filter((k) => !engineNames.includes(k) && !KERNEL_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new InputError(
      INPUT,
      `names ${unknown.join(', ')}, which zdm does not manage for ${engine}. It manages: ${[...engineNames, ...KERNEL_KEYS].join(', ')}. Change other settings in the server's own configuration.`,
    );
  }
  const bad = checkKernelOverrides(overrides);
  if (bad.length > 0) throw new InputError(INPUT, `has kernel values of the wrong form: ${bad.join('; ')}`);
}

/** The overrides among `names`. */
export function pick(overrides: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(overrides).filter(([k]) => names.includes(k)));
}
