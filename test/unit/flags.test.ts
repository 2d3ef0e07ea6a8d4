import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/flags.js';

describe('parseFlags (util.parseArgs)', () => {
  const known = ['engine', 'out-dir', 'size-mb'];
  it('reads --name value, --name=value and booleans', () => {
    const f = parseFlags(['--engine', 'postgres', '--size-mb=5', '--keep'], known, ['keep', 'json']);
    expect(Object.fromEntries(f)).toEqual({ engine: 'postgres', 'size-mb': '5', keep: 'true' });
    expect(parseFlags(['--keep=false'], known, ['keep']).get('keep')).toBe('false');
  });
  it('refuses an unknown flag, naming the valid ones and the closest', () => {
    expect(() => parseFlags(['--engnie', 'x'], known)).toThrow(
      /^unknown flag --engnie\. Valid flags: --engine, --out-dir, --size-mb\. Did you mean --engine\?$/,
    );
    expect(() => parseFlags(['--zzz'], known)).toThrow(/^unknown flag --zzz\. Valid flags: --engine, --out-dir, --size-mb$/);
  });
  it('refuses a positional argument and a flag without its value', () => {
    expect(() => parseFlags(['stray'], known)).toThrow(/^unexpected argument "stray": flags look like --name value$/);
    expect(() => parseFlags(['--engine'], known)).toThrow(/^flag --engine needs a value$/);
  });
});
