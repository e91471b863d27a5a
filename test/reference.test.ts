/**
 * Against the real guided-diffusion `UNetModel` (test/reference, made by make_reference.py with
 * Debian's PyTorch): every published improved/guided-diffusion config builds with PyTorch's exact
 * parameters and state_dict, and small models with the guided-diffusion options match PyTorch's output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { analyze, countParameters, nodeWeights } from '../graph/analyze';
import { iddpm } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { toFloat32, type SafetensorsFile } from '../runtime/safetensors';
import { useBackend } from '../runtime/backend-node';
import { closeness, nchwToNhwc, readSafetensors, REFERENCE } from './util';

interface PublishedConfig {
  name: string;
  model_class: string;
  kwargs: Record<string, unknown>;
  image_size: number;
  num_parameters: number;
  num_state_dict_tensors: number;
  state_dict_sha256: string;
}

const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: PublishedConfig[] }).configs;

describe('published improved/guided-diffusion configs', () => {
  it('covers CIFAR-10 through ImageNet 512×512', () => {
    expect(published.length).toBe(19);
    expect(published.map((c) => c.name)).toEqual(expect.arrayContaining(['improved-diffusion/cifar10_uncond_50M_500K', 'guided-diffusion/512x512_diffusion']));
  });

  for (const c of published) {
    it(`${c.name}: ${c.num_parameters.toLocaleString('en-US')} parameters and PyTorch's state_dict`, () => {
      // SuperResModel is a UNetModel whose kwargs already carry the doubled in_channels.
      const graph = iddpm(c.kwargs, c.image_size);
      const a = analyze(graph);
      expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(countParameters(a)).toBe(c.num_parameters);
      // state_dict order is module registration order, which is the templates' node order.
      const lines: string[] = [];
      for (const n of graph.nodes) for (const w of nodeWeights(a.info.get(n.id)!)) lines.push(`${n.name}.${w.key}:${w.shape.join('x')}\n`);
      expect(lines.length).toBe(c.num_state_dict_tensors);
      expect(createHash('sha256').update(lines.join('')).digest('hex')).toBe(c.state_dict_sha256);
    });
  }
});

const CASES = ['guided-headch', 'guided-neworder', 'guided-updown', 'guided-classcond', 'guided-halfmult'] as const;

/** The weights part of a reference file (its `io.*` tensors are the inputs and output). */
function weightsOnly(file: SafetensorsFile): SafetensorsFile {
  return { metadata: file.metadata, tensors: new Map([...file.tensors].filter(([k]) => !k.startsWith('io.'))) };
}

export async function referenceOut(name: (typeof CASES)[number]): Promise<{ got: Float32Array; ref: Float32Array; shape: readonly number[] }> {
  const meta = JSON.parse(readFileSync(`${REFERENCE}${name}.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number };
  const file = readSafetensors(`${REFERENCE}${name}.safetensors`);
  const plan = planGraph(iddpm(meta.kwargs, meta.image_size));
  const weights = loadWeights(plan, weightsOnly(file), `${name}.safetensors`);
  const xT = file.tensors.get('io.x')!;
  const x = tf.tidy(() => nchwToNhwc(tf.tensor(toFloat32(xT), [...xT.shape])));
  const t = tf.tensor1d(toFloat32(file.tensors.get('io.timesteps')!));
  const yT = file.tensors.get('io.y');
  const y = yT ? tf.tensor1d(toFloat32(yT)) : undefined;
  const { out } = runGraph(plan, weights, { x, timesteps: t, ...(y ? { y } : {}) });
  const nchw = tf.transpose(out, [0, 3, 1, 2]);
  const got = (await nchw.data()) as Float32Array;
  const refT = file.tensors.get('io.out')!;
  tf.dispose([x, t, out, nchw, ...(y ? [y] : [])]);
  disposeWeights(weights);
  return { got, ref: toFloat32(refT), shape: refT.shape };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`guided-diffusion options match PyTorch on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    for (const name of CASES) {
      it(name, async () => {
        const { got, ref } = await referenceOut(name);
        const c = closeness(got, ref, 1e-4, 1e-4);
        expect(c.ok, `max |d| ${c.maxAbs.toExponential(2)}, ${c.worst.toFixed(2)}× tolerance`).toBe(true);
        expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(1); // a real signal, not zeros
      });
    }
  });
}
