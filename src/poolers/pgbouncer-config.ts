/** The one edit zdm makes to a PgBouncer configuration file: the host and port of one [databases] entry. */
import type { Address } from './pooler.js';

export interface DatabaseLine {
  /** Index of the line in the file. */
  index: number;
  /** The connection string's key=value pairs, in order. */
  params: [string, string][];
}

const SECTION = /^\s*\[([^\]]+)\]\s*$/;

/** Splits `host=a port=5432 dbname='my db'` into pairs (values may be single-quoted). */
export function parseConnstr(text: string): [string, string][] {
  const out: [string, string][] = [];
  const re = /\s*([\w.]+)\s*=\s*('(?:[^'\\]|\\.|'')*'|\S*)/g;
  for (let m = re.exec(text); m && m[0].trim(); m = re.exec(text)) out.push([m[1], m[2]]);
  return out;
}

/** Finds `name = ...` inside [databases] (PgBouncer matches the names case-sensitively; sections not). */
export function findDatabaseLine(text: string, name: string): DatabaseLine | undefined {
  const lines = text.split('\n');
  let inDatabases = false;
  for (let i = 0; i < lines.length; i++) {
    const s = SECTION.exec(lines[i]);
    if (s) {
      inDatabases = s[1].trim().toLowerCase() === 'databases';
      continue;
    }
    if (!inDatabases || /^\s*[;#]/.test(lines[i])) continue;
    const eq = lines[i].indexOf('=');
    if (eq < 0) continue;
    const key = lines[i]
      .slice(0, eq)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (key === name) return { index: i, params: parseConnstr(lines[i].slice(eq + 1)) };
  }
  return undefined;
}

/** The file with entry `name` pointed at `to`; the other keys of the entry (dbname, user...) are kept. */
export function repointConfig(text: string, name: string, to: Address): { text: string; before: Address | undefined } {
  const line = findDatabaseLine(text, name);
  if (!line) throw new Error(`no entry "${name}" in the [databases] section`);
  const get = (k: string) => line.params.find(([key]) => key === k)?.[1];
  const before = get('host') ? { host: get('host')!, port: Number(get('port') ?? 5432) } : undefined;
  const params = line.params.filter(([k]) => k !== 'host' && k !== 'port');
  const lines = text.split('\n');
  const key = lines[line.index].slice(0, lines[line.index].indexOf('=')).trim();
  lines[line.index] = `${key} = ${[['host', to.host], ['port', String(to.port)], ...params].map(([k, v]) => `${k}=${v}`).join(' ')}`;
  return { text: lines.join('\n'), before };
}
