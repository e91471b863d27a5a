/** Parity with PyTorch on the shared fixtures, on tfjs's cpu and wasm backends (Node). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../runtime/backend-node';
import { compareFixture, type Compared } from './fixture-run';

const TOL = { atol: 1e-4, rtol: 1e-4 };

function expectAllClose(results: readonly Compared[], expectedKeys: number): void {
  expect(results.length).toBe(expectedKeys);
  const bad = results.filter((r) => !r.ok).map((r) => `${r.key}: max |d| ${r.maxAbs.toExponential(2)} (${r.worst.toFixed(2)}× tolerance)`);
  expect(bad).toEqual([]);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`PyTorch parity on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    afterAll(() => {
      expect(tf.getBackend()).toBe(backend);
    });

    it('iddpm-small: out and all 23 act.* tensors', async () => {
      // 23 act.* + out (x, timesteps and timesteps_f32 are inputs).
      expectAllClose(await compareFixture('iddpm-small', 'io.safetensors', TOL), 24);
    });

    it('vanilla-small (2×3×32×32): out and all act.* tensors', async () => {
      expectAllClose(await compareFixture('vanilla-small', 'io.safetensors', TOL), 9);
    });

    it('vanilla-small io_odd (1×3×30×26, exercises pad-to-match): out and all act.* tensors', async () => {
      expectAllClose(await compareFixture('vanilla-small', 'io_odd.safetensors', TOL), 9);
    });
  });
}
