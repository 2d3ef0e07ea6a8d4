import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** Every file under `dir` (relative path) with its exact contents: to prove a step changed nothing, or put everything back. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}
