import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from './backend-node';
import { randomWeights, randomWeightsAsync, disposeWeights, type WeightStore } from './weights';
import { expectedWeights } from '../graph/weights';
import { tfjsShape } from '../weights/pytorch';
import { analyze } from '../graph/analyze';
import { iddpm, vanilla } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';
import { fixtureConfig } from '../test/util';
import { Cancelled } from './failure';

beforeAll(async () => {
  await useBackend('cpu');
});

async function bits(store: WeightStore): Promise<Map<string, { shape: number[]; bits: Uint32Array }>> {
  const out = new Map<string, { shape: number[]; bits: Uint32Array }>();
  for (const [k, t] of store) out.set(k, { shape: t.shape, bits: new Uint32Array(((await t.data()) as Float32Array).slice().buffer) });
  return out;
}

const vanillaSmall = () => {
  const c = fixtureConfig('vanilla-small');
  return vanilla(c.kwargs, c.imageSize);
};

describe('random weights without freezing the page (randomWeightsAsync)', () => {
  it('gives randomWeights’ tensors bit for bit, for every layout (conv2d, convT, linear, conv1d, same) and seed 0', async () => {
    for (const g of [iddpm(IDDPM_SMALL, 16), vanillaSmall()]) {
      const a = analyze(g);
      const expected = expectedWeights(a);
      for (const seed of [0, 7]) {
        const sync = randomWeights(a, seed);
        // sliceMs 0: it pauses after every chunk, so the chunked path is the one compared.
        const chunked = await randomWeightsAsync(expected, seed, { sliceMs: 0 });
        const [x, y] = [await bits(sync), await bits(chunked)];
        expect([...y.keys()]).toEqual([...x.keys()]);
        for (const [k, v] of x) {
          expect(y.get(k)!.shape, k).toEqual(v.shape);
          expect(Buffer.from(y.get(k)!.bits.buffer).equals(Buffer.from(v.bits.buffer)), k).toBe(true);
        }
        disposeWeights(sync);
        disposeWeights(chunked);
      }
    }
    // The graphs above do cover every layout.
    const layouts = new Set([...expectedWeights(analyze(iddpm(IDDPM_SMALL, 16))), ...expectedWeights(analyze(vanillaSmall()))].map((w) => w.layout));
    expect([...layouts].sort()).toEqual(['conv1d', 'conv2d', 'convT', 'linear', 'same']);
  });

  it('seed 0 repeats exactly, and differs from seed 1', async () => {
    const expected = expectedWeights(analyze(iddpm(IDDPM_SMALL, 8)));
    const key = 'input_blocks.0.0.weight';
    const values = async (seed: number) => {
      const s = await randomWeightsAsync(expected, seed);
      const v = Array.from(await s.get(key)!.data());
      disposeWeights(s);
      return v;
    };
    const [a, b, c] = [await values(0), await values(0), await values(1)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a).size).toBeGreaterThan(a.length / 2); // real random values, not a constant
  });

  it('reports progress up to the total, and a cancel frees what it made', async () => {
    const expected = expectedWeights(analyze(iddpm(IDDPM_SMALL, 8)));
    const total = expected.reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0);
    const seen: number[] = [];
    const s = await randomWeightsAsync(expected, 3, { sliceMs: 0, onProgress: (d, t) => (expect(t).toBe(total), void seen.push(d)) });
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.every((d, i) => i === 0 || d >= seen[i - 1])).toBe(true);
    expect(seen.at(-1)).toBe(total);
    disposeWeights(s);

    const before = tf.memory().numTensors;
    const stop = new AbortController();
    let calls = 0;
    const p = randomWeightsAsync(expected, 3, { sliceMs: 0, signal: stop.signal, onProgress: () => void (++calls === 5 && stop.abort()) });
    await expect(p).rejects.toBeInstanceOf(Cancelled);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tfjsShape is what fromPyTorch gives', () => {
    expect(tfjsShape([8, 4, 3, 3], 'conv2d')).toEqual([3, 3, 4, 8]);
    expect(tfjsShape([4, 8, 2, 2], 'convT')).toEqual([2, 2, 8, 4]);
    expect(tfjsShape([16, 32], 'linear')).toEqual([32, 16]);
    expect(tfjsShape([96, 32, 1], 'conv1d')).toEqual([32, 96]);
    expect(tfjsShape([7], 'same')).toEqual([7]);
  });
});
