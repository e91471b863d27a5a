import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ldm } from '../graph/templates';
import { expectedWeights } from '../graph/weights';
import { planGraph, runGraph } from './interpreter';
import { disposeWeights, randomWeights } from './weights';
import { HostWeights, randomHostWeights } from './host-weights';
import { useBackend } from './backend-node';

// A small latent-diffusion UNet: ResBlocks, a SpatialTransformer with its context, up and down.
const plan = planGraph(
  ldm(
    {
      in_channels: 4, out_channels: 4, model_channels: 32, attention_resolutions: [2], num_res_blocks: 1,
      channel_mult: [1, 2], num_heads: 2, use_spatial_transformer: true, transformer_depth: 1, context_dim: 24,
    },
    8,
  ),
);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`weights kept on the host, put on the backend block by block (${backend})`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    it('give the same output bit for bit as resident weights, hold at most one block’s weights, and leak nothing', async () => {
      const resident = randomWeights(plan, 7);
      const host = await HostWeights.fromTensors(resident);
      const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const timesteps = tf.tensor1d([3, 517]);
      const context = tf.randomNormal([2, 77, 24], 0, 1, 'float32', 2);
      const inputs = { x, timesteps, context };
      const want = runGraph(plan, resident, inputs).out;
      const wantValues = await want.data();
      tf.dispose(want);
      disposeWeights(resident);

      const before = tf.memory().numTensors;
      let peak = 0;
      for (let i = 0; i < 3; i++) {
        const got = runGraph(plan, host, inputs, { onBlock: () => void (peak = Math.max(peak, tf.memory().numBytes)) }).out;
        expect(Array.from(await got.data())).toEqual(Array.from(wantValues));
        got.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
      // Between blocks the backend holds the inputs and block outputs, never the whole model's weights.
      expect(host.bytes).toBeGreaterThan(1_000_000);
      expect(peak).toBeLessThan(host.bytes / 2);
      tf.dispose([x, timesteps, context]);
    });
  });
}

describe('randomHostWeights', () => {
  it('makes every expected weight in tfjs’s shape with its initialiser’s spread, deterministically', () => {
    const expected = expectedWeights(plan);
    const a = randomHostWeights(expected, 3);
    const b = randomHostWeights(expected, 3);
    expect(a.size).toBe(expected.length);
    for (const w of expected) {
      const ta = a.get(w.fullKey)!;
      const tb = b.get(w.fullKey)!;
      const va = ta.dataSync();
      expect(Array.from(va)).toEqual(Array.from(tb.dataSync()));
      const n = va.length;
      if (w.init.kind === 'const') expect(new Set(va)).toEqual(new Set([w.init.value]));
      else if (n >= 4096) {
        let s2 = 0;
        for (const v of va) s2 += v * v;
        const std = w.init.kind === 'uniform' ? w.init.bound / Math.sqrt(3) : w.init.std;
        expect(Math.sqrt(s2 / n) / std).toBeGreaterThan(0.95);
        expect(Math.sqrt(s2 / n) / std).toBeLessThan(1.05);
      }
      tf.dispose([ta, tb]);
    }
    const other = tf.tidy(() => [randomHostWeights(expected, 4).get(expected[1].fullKey)!.dataSync()[0], a.get(expected[1].fullKey)!.dataSync()[0]]);
    expect(other[0]).not.toBe(other[1]);
  });
});
