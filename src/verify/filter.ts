/** The verify-tables filter: glob patterns over full table names, `!` to leave tables out. */
import { InputError } from '../errors.js';

export interface TableFilter {
  matches(name: string): boolean;
  readonly description: string;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Parses a list of patterns separated by commas, spaces or new lines. A table is verified when it
 * matches an including pattern (or there is none) and no `!` pattern.
 */
export function parseTableFilter(text: string, input = 'verify-tables'): TableFilter {
  const patterns = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const glob = negated ? p.slice(1) : p;
    if (!glob) throw new InputError(input, `has an empty pattern after "!": write e.g. !${input === 'tables' ? 'public' : 'appdb'}.audit_*`);
    (negated ? exclude : include).push(globToRegExp(glob));
  }
  return {
    matches: (name) => (include.length === 0 || include.some((r) => r.test(name))) && !exclude.some((r) => r.test(name)),
    description: patterns.length ? patterns.join(', ') : 'all user tables',
  };
}

/**
 * verify-tables narrowed to the tables a PostgreSQL logical migration carried (`tables`, patterns
 * over schema.table): a table left out of the migration is not on the target, and is no difference.
 */
export function narrowedTo(f: TableFilter, carried: TableFilter): TableFilter {
  return {
    matches: (name) => f.matches(name) && carried.matches(name.split('.').slice(1).join('.')),
    description: `${f.description}, within tables: ${carried.description}`,
  };
}
