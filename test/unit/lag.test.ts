import { describe, expect, it } from 'vitest';
import { closingRate, diagnose, withinBounds } from '../../src/lag/watch.js';
import type { LagSample } from '../../src/engines/engine.js';
import { readInputs } from '../../src/inputs.js';

const sample = (at: number, bytes: number, seconds: number | undefined = 0.3, streaming = true): LagSample => ({ at, bytes, seconds, streaming, detail: 'd' });
const inputs = readInputs('await-lag-zero', (n) => ({ 'source-url': 'postgres://a:b@h/db', 'target-url': 'postgres://a:b@t/db' })[n]);

describe('lag decisions', () => {
  it('is within bounds only when streaming, with a heartbeat, under both bounds', () => {
    expect(withinBounds(sample(0, 100), inputs)).toBe(true);
    expect(withinBounds({ ...sample(0, 100), seconds: undefined }, inputs)).toBe(false);
    expect(withinBounds(sample(0, 100, 0.1, false), inputs)).toBe(false);
    expect(withinBounds(sample(0, 2 * 1024 * 1024), inputs)).toBe(false);
    expect(withinBounds(sample(0, 10, 3), inputs)).toBe(false);
  });
  it('computes the closing rate over the window', () => {
    const h = [sample(0, 10_000), sample(5000, 6000), sample(10_000, 0)];
    expect(closingRate(h)).toBe(1000);
    expect(closingRate([sample(0, 5)])).toBeUndefined();
  });
  it('diagnoses a growing lag and a broken stream differently', () => {
    expect(diagnose([sample(0, 100), sample(10_000, 200)], inputs)).toMatch(/not shrinking/);
    expect(diagnose([sample(0, 100, 1, false)], inputs)).toMatch(/not streaming/);
    expect(diagnose([sample(0, 10_000), sample(10_000, 5000)], inputs)).toMatch(/raise timeout-seconds/);
  });
});
