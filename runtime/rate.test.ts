import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from './backend-node';
import { backendLimits, browserMemoryBytes, forgetRates, measureRate } from './rate';
import { WASM_MAX_BYTES } from './failure';

describe('measureRate and backendLimits', () => {
  it('measures a positive rate on cpu and wasm, caches it per backend, and leaks no tensor', async () => {
    forgetRates();
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    const cpu = await measureRate(1);
    expect(cpu).toBeGreaterThan(0.01);
    expect(Number.isFinite(cpu)).toBe(true);
    expect(await measureRate(1)).toBe(cpu);
    expect(tf.memory().numTensors).toBe(before);
    await useBackend('wasm');
    const wasm = await measureRate(1);
    // XNNPACK's conv is far faster than the plain JS one: the probe tells the backends apart.
    expect(wasm).toBeGreaterThan(cpu * 3);
  });

  it('knows the WASM heap limit and passes the host memory through elsewhere', async () => {
    await useBackend('wasm');
    expect(backendLimits()).toEqual({ backend: 'wasm', memoryBytes: WASM_MAX_BYTES });
    expect(backendLimits(2 ** 30)).toEqual({ backend: 'wasm', memoryBytes: 2 ** 30 });
    await useBackend('cpu');
    expect(backendLimits(8 * 2 ** 30)).toEqual({ backend: 'cpu', memoryBytes: 8 * 2 ** 30 });
    expect(backendLimits()).toEqual({ backend: 'cpu' });
    expect(browserMemoryBytes()).toBeGreaterThan(0);
  });
});
