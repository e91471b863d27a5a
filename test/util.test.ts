import { describe, expect, it } from 'vitest';
import { closeness } from './util';

describe('closeness', () => {
  it('passes within atol + rtol·|ref| and names the worst element', () => {
    const c = closeness([1, 2.00015, 3], [1, 2, 3], 1e-4, 1e-4);
    expect(c.ok).toBe(true);
    expect(c.at).toBe(1);
    expect(c.maxAbs).toBeCloseTo(1.5e-4, 8);
    expect(c.worst).toBeCloseTo(1.5e-4 / 3e-4, 4);
  });

  it('fails on one NaN, in the output or the reference, and reports it as infinitely far', () => {
    for (const [got, ref] of [
      [[0, NaN, 0], [0, 0, 0]],
      [[0, 0, 0], [0, NaN, 0]],
      [[NaN, NaN, NaN], [NaN, NaN, NaN]],
    ]) {
      const c = closeness(got, ref, 1e-3, 0);
      expect(c.ok).toBe(false);
      expect(c.maxAbs).toBe(Infinity);
      expect(c.at).toBe(got[0] !== got[0] ? 0 : 1);
    }
  });

  it('fails just past the tolerance', () => {
    expect(closeness([1.0011], [1], 1e-3, 0).ok).toBe(false);
    expect(closeness([1.0009], [1], 1e-3, 0).ok).toBe(true);
  });
});
