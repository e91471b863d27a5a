import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { iddpm, vanilla } from '../graph/templates';
import { planGraph, runGraph, GraphError } from './interpreter';
import { disposeWeights, loadWeights, randomWeights } from './weights';
import { expectedWeights } from '../graph/weights';
import { WeightLoadError } from '../weights/pytorch';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { useBackend } from './backend-node';
import { GraphBuilder } from '../graph/builder';
import { IDDPM_SMALL } from '../bench/configs';

const small = () => planGraph(iddpm(IDDPM_SMALL, 16));

/** A state_dict of the right keys and shapes, values 0.01·index (deterministic, non-zero). */
function fakeStateDict(plan: ReturnType<typeof planGraph>): Record<string, TensorToWrite> {
  const sd: Record<string, TensorToWrite> = {};
  for (const w of expectedWeights(plan)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'int64') sd[w.fullKey] = { dtype: 'I64', shape: w.shape, data: [7] };
    else sd[w.fullKey] = { dtype: 'F32', shape: w.shape, data: Float32Array.from({ length: n }, (_, i) => ((i % 13) - 6) * 0.01) };
  }
  return sd;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`interpreter on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    it('leaks no tensor across 25 runs, with and without tracing', () => {
      // Every block kind of the iDDPM family at 8×8 (attention, up/down, skips). The count is compared exactly, so
      // one tensor leaked per run shows as 25; more runs only cost time (100 ran past the minute on a loaded machine).
      const plan = planGraph(iddpm(IDDPM_SMALL, 8));
      const w = randomWeights(plan, 3);
      const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const t = tf.tensor1d([3, 517]);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 25; i++) runGraph(plan, w, { x, timesteps: t }).out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      for (let i = 0; i < 5; i++) {
        const r = runGraph(plan, w, { x, timesteps: t }, { trace: true });
        expect(Object.keys(r.acts).length).toBeGreaterThan(40);
        tf.dispose([r.out, ...Object.values(r.acts)]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, t]);
      disposeWeights(w);
    });

    it('a freshly initialised iDDPM UNet outputs exactly zero (zero_module on out.2)', async () => {
      const plan = small();
      const w = randomWeights(plan, 11);
      const x = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const t = tf.tensor1d([10]);
      const { out } = runGraph(plan, w, { x, timesteps: t });
      const v = await out.data();
      expect(v.length).toBe(16 * 16 * 3);
      expect(Math.max(...Array.from(v, Math.abs))).toBe(0);
      tf.dispose([out, x, t]);
      disposeWeights(w);
    });

    it('the same weights and inputs give the same output twice; different timesteps change it', async () => {
      const plan = planGraph(vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, 8));
      const w = randomWeights(plan, 5);
      const x = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const a = runGraph(plan, w, { x }).out;
      const b = runGraph(plan, w, { x }).out;
      expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
      expect(Math.max(...Array.from(await a.data(), Math.abs))).toBeGreaterThan(0);
      tf.dispose([a, b, x]);
      disposeWeights(w);
    });
  });
}

describe('weights', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => undefined);

  it('random initialisation follows PyTorch defaults and is seeded', async () => {
    const plan = small();
    const a = randomWeights(plan, 1);
    const b = randomWeights(plan, 1);
    const c = randomWeights(plan, 2);
    const key = 'input_blocks.1.0.in_layers.2.weight'; // Conv2d 32→32 3×3: U(±1/√288)
    const va = await a.get(key)!.data();
    expect(Array.from(va)).toEqual(Array.from(await b.get(key)!.data()));
    expect(Array.from(va)).not.toEqual(Array.from(await c.get(key)!.data()));
    const bound = 1 / Math.sqrt(32 * 9);
    expect(Math.max(...Array.from(va, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(va, Math.abs))).toBeGreaterThan(0.95 * bound);
    // zero_module layers and GroupNorm affine
    for (const z of ['input_blocks.1.0.out_layers.3.weight', 'input_blocks.3.1.proj_out.weight', 'out.2.weight', 'out.2.bias']) {
      expect(Math.max(...Array.from(await a.get(z)!.data(), Math.abs)), z).toBe(0);
    }
    expect(Array.from(await a.get('out.0.weight')!.data())).toEqual(new Array(32).fill(1));
    // tfjs layouts: conv [kh, kw, in, out], linear [in, out], conv1d [in, out]
    expect(a.get(key)!.shape).toEqual([3, 3, 32, 32]);
    expect(a.get('time_embed.0.weight')!.shape).toEqual([32, 128]);
    expect(a.get('input_blocks.3.1.qkv.weight')!.shape).toEqual([64, 192]);
    for (const s of [a, b, c]) disposeWeights(s);
  });

  it('strict loading lists missing, unexpected and mis-shaped keys by name and allocates nothing', () => {
    const plan = small();
    const sd = fakeStateDict(plan);
    delete sd['out.2.bias'];
    delete sd['input_blocks.3.1.qkv.weight'];
    sd['input_blocks.9.0.weight'] = { dtype: 'F32', shape: [1], data: [1] };
    sd['time_embed.0.weight'] = { dtype: 'F32', shape: [32, 128], data: new Float32Array(32 * 128) };
    const file = parseSafetensors(writeSafetensors(sd));
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      loadWeights(plan, file, 'model.safetensors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeightLoadError);
    const e = err as WeightLoadError;
    expect([...e.missing].sort()).toEqual(['input_blocks.3.1.qkv.weight', 'out.2.bias']);
    expect(e.unexpected).toEqual(['input_blocks.9.0.weight']);
    expect(e.mismatched).toEqual([{ key: 'time_embed.0.weight', expected: [128, 32], got: [32, 128] }]);
    expect(e.message).toContain('model.safetensors does not match the graph');
    expect(e.message).toContain('time_embed.0.weight: the graph needs [128, 32], the file has [32, 128]');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('loads a complete state_dict, consuming int64 BatchNorm counters', () => {
    const plan = planGraph(vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, 8));
    const file = parseSafetensors(writeSafetensors(fakeStateDict(plan)));
    const store = loadWeights(plan, file);
    expect(store.size).toBe(file.tensors.size);
    expect(store.has('inc.double_conv.1.num_batches_tracked')).toBe(true);
    expect(store.get('up1.up.weight')!.shape).toEqual([2, 2, 8, 16]); // [in 16, out 8, 2, 2] → [kh, kw, out, in]
    disposeWeights(store);
  });

  it('refuses an invalid graph and names the problem', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
    const gn = b.add('GroupNorm', 'norm', {}, { x });
    b.add('Output', 'output', {}, { x: gn });
    expect(() => planGraph(b.build('bad'))).toThrow(GraphError);
    expect(() => planGraph(b.build('bad'))).toThrow(/GroupNorm "norm": 3 channels are not divisible by 32 groups/);
  });

  it('checks inputs before running', () => {
    const plan = small();
    const w = randomWeights(plan, 1);
    const x = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const x8 = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => runGraph(plan, w, { x })).toThrow(/needs "timesteps"/);
    expect(() => runGraph(plan, w, { x: x8, timesteps: tf.tensor1d([1]) })).toThrow(/input x is 3×8×8 but the graph's Image input "x" is 3×16×16/);
    tf.dispose([x, x8]);
    disposeWeights(w);
  });
});
