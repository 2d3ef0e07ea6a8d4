import { describe, expect, it } from 'vitest';
import { TextLog, transferProgress } from '../../src/log.js';

describe('log helpers', () => {
  it('gives no rate or ETA in the first second of a copy, then both', () => {
    const now = Date.now();
    expect(transferProgress(132, 60 * 1024 ** 2, now, true)).toBe('132 B of about 60.0 MB');
    expect(transferProgress(10 * 1024 ** 2, 60 * 1024 ** 2, now - 2000)).toMatch(/^10\.0 MB of 60\.0 MB, 5\.0 MB\/s, ETA 10 s$/);
  });
  it('masks every registered secret', () => {
    const lines: string[] = [];
    const log = new TextLog((l) => lines.push(l));
    log.secret('hunter2');
    log.info('password hunter2 in a url postgres://u:hunter2@h/db');
    expect(lines).toEqual(['password *** in a url postgres://u:***@h/db']);
  });
});
