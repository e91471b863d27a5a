/**
 * The session's sampling with the generated module of a class-conditional iDDPM: DDIM, classifier-
 * free guidance over the model's conditional inputs (one forward of the doubled batch), the
 * unconditional inputs' sources, and F16 weights loaded through the session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { readConditioningFile, RuntimeSession, unconditionalSources } from './session';
import { useBackend } from './backend-node';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from './evaluate';
import { iddpm, ldm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { IDDPM_SMALL } from '../bench/configs';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { Rng } from '../weights/rng';
import { inputRole } from '../blocks/roles';

// Small enough for the cpu backend: one level, one ResBlock, no attention, 4×4.
const G: Graph = iddpm({ ...IDDPM_SMALL, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1], num_classes: 10 }, 4);

function session(weights?: Uint8Array): RuntimeSession {
  const s = new RuntimeSession();
  if (weights) s.setWeights({ kind: 'file', name: 'w.safetensors', bytes: weights });
  const mod = generateModule(G, readSources());
  s.setModule(G, transpile(mod.text), mod.className, mod.inputs);
  return s;
}

/** Weights every dtype holds exactly (k/256, |k| ≤ 64, scaled down by fan), as F16 or F32. */
function weightsFile(dtype: 'F16' | 'F32', graph: Graph = G): Uint8Array {
  const rng = new Rng(9);
  const tensors: Record<string, TensorToWrite> = {};
  for (const w of expectedWeights(analyze(graph))) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = (Math.floor(rng.next() * 129) - 64) / (w.shape.length > 1 ? 2048 : 256);
    tensors[w.fullKey] = { dtype, shape: w.shape, data: v };
  }
  return writeSafetensors(tensors);
}

const F16 = weightsFile('F16');
const F32 = weightsFile('F32');
const BASE = { schedule: 'linear', trainSteps: 1000, steps: 2, seed: 4, label: 3, batch: 2, learnedSigma: false, clip: false } as const; // unclipped: two steps from t = 999 would clip every value to ±1
const values = async (t: tf.Tensor4D | null) => {
  const v = Array.from(await t!.data());
  t!.dispose();
  return v;
};

describe('session sampling: DDIM and classifier-free guidance', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('F16 weights load through the session with the F32 file’s values: the same samples bit for bit', async () => {
    const a = session(F16);
    const b = session(F32);
    const x = await values(await a.sample({ ...BASE, sampler: 'ddim' }));
    expect(await values(await b.sample({ ...BASE, sampler: 'ddim' }))).toEqual(x);
    expect(Math.max(...x.map(Math.abs))).toBeGreaterThan(0.05); // a real output (the weights are not zeros)
    a.dispose();
    b.dispose();
  });

  it('guidance: one forward of the doubled batch per step; scale 0 with a null label samples like that label; scale 1 is plain conditional sampling', async () => {
    const s = session(F32);
    expect(s.conditionalInputs().map((m) => m.role.role)).toEqual(['y']);
    const plain = await values(await s.sample({ ...BASE, sampler: 'ddim' }));
    const asNull = await values(await s.sample({ ...BASE, label: 9, sampler: 'ddim' }));
    const before = tf.memory().numTensors;
    const g1 = await values(await s.sample({ ...BASE, sampler: 'ddim', guidance: { scale: 1, uncond: { values: { y: 9 } } } }));
    expect(g1).toEqual(plain);
    const g0 = await values(await s.sample({ ...BASE, sampler: 'ddim', guidance: { scale: 0, uncond: { values: { y: 9 } } } }));
    // The doubled batch runs the same per-sample arithmetic: within float32 rounding of the plain batch.
    const d0 = Math.max(...g0.map((v, i) => Math.abs(v - asNull[i])));
    expect(d0).toBeLessThan(1e-5);
    const g3 = await values(await s.sample({ ...BASE, sampler: 'ddim', guidance: { scale: 3, uncond: { values: { y: 9 } } } }));
    expect(Math.max(...g3.map((v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
    await expect(s.sample({ ...BASE, guidance: { scale: 2, uncond: {} } })).rejects.toThrow(/classifier-free guidance needs an unconditional class label y/);
    expect(tf.memory().numTensors).toBe(before);
    s.dispose();
  });

  it('counts one forward of 2·batch per guided step (a spy on the module’s forward)', async () => {
    const s = session(F32);
    await s.prepare();
    const model = (s as unknown as { model: { forward: (...a: tf.Tensor[]) => tf.Tensor4D } }).model; // the generated model, to count its calls
    const batches: number[] = [];
    const forward = model.forward.bind(model);
    model.forward = (...a: tf.Tensor[]) => {
      batches.push(a[0].shape[0]);
      return forward(...a);
    };
    await values(await s.sample({ ...BASE, sampler: 'ddpm', guidance: { scale: 2.5, uncond: { values: { y: 9 } } } }));
    expect(batches).toEqual([4, 4]);
    s.dispose();
  });

  it('the unconditional sources: file, value, zeros for tensor inputs (a context), missing for a label without a null value', () => {
    const y = { role: inputRole('y'), dims: [] };
    const ctx = { role: inputRole('context'), dims: [4, 8] };
    expect(unconditionalSources([y], {})).toEqual([{ role: 'y', label: 'class label y', source: 'missing' }]);
    expect(unconditionalSources([y], { values: { y: 10 } })[0].source).toBe('value');
    expect(unconditionalSources([ctx], {})[0].source).toBe('zeros');
    const file = readConditioningFile(parseSafetensors(writeSafetensors({ class_labels: { dtype: 'I64', shape: [1], data: BigInt64Array.from([BigInt(7)]) } })), 'u.safetensors');
    expect(file.inputs.y).toEqual({ data: new Float32Array([7]), shape: [1] });
    expect(unconditionalSources([y], { file })[0].source).toBe('file');
    expect(() => readConditioningFile(parseSafetensors(writeSafetensors({ x: { dtype: 'F32', shape: [1], data: [0] } })), 'u.safetensors')).toThrow(
      /u\.safetensors has none of the conditional inputs \("context", "y"\); it has: x/,
    );
  });

  it('an unconditional label from a file (batch 1, repeated): the same samples as the same value', async () => {
    const s = session(F32);
    const file = readConditioningFile(parseSafetensors(writeSafetensors({ y: { dtype: 'I64', shape: [1], data: BigInt64Array.from([BigInt(9)]) } })), 'u.safetensors');
    const a = await values(await s.sample({ ...BASE, sampler: 'ddim', guidance: { scale: 2, uncond: { file } } }));
    const b = await values(await s.sample({ ...BASE, sampler: 'ddim', guidance: { scale: 2, uncond: { values: { y: 9 } } } }));
    expect(a).toEqual(b);
    const wrong = readConditioningFile(parseSafetensors(writeSafetensors({ y: { dtype: 'F32', shape: [3], data: [1, 2, 3] } })), 'u3.safetensors');
    await expect(s.sample({ ...BASE, guidance: { scale: 2, uncond: { file: wrong } } })).rejects.toThrow(/u3\.safetensors: the unconditional y has a batch of 3; sampling makes 2 \(give 1 or 2\)/);
    s.dispose();
  });

  it('a text-conditioned model (context input): the unconditional context is zeros; scale 0 samples like a zero context', async () => {
    const g = ldm({ image_size: 4, in_channels: 4, out_channels: 4, model_channels: 32, attention_resolutions: [1], num_res_blocks: 1, channel_mult: [1], num_head_channels: 16, use_spatial_transformer: true, transformer_depth: 1, context_dim: 8, legacy: false });
    const s = new RuntimeSession();
    const mod = generateModule(g, readSources());
    s.setModule(g, transpile(mod.text), mod.className, mod.inputs);
    // Not PyTorch's initialisation: its zero-initialised output conv and proj_out would hide the context.
    s.setWeights({ kind: 'file', name: 'w.safetensors', bytes: weightsFile('F32', g) });
    expect(s.mismatch).toBeNull();
    const roles = s.conditionalInputs();
    expect(roles.map((m) => [m.role.role, m.dims])).toEqual([['context', roles[0].dims]]);
    expect(unconditionalSources(roles, {})).toEqual([{ role: 'context', label: 'context', source: 'zeros' }]);
    const [tokens, dim] = roles[0].dims;
    const opts = { schedule: 'linear', trainSteps: 1000, steps: 2, seed: 5, label: 0, batch: 1, learnedSigma: false, sampler: 'ddim', clip: false } as const;
    const zeros = { file: { name: 'zeros', inputs: { context: { data: new Float32Array(tokens * dim), shape: [1, tokens, dim] } } } };
    const withZeros = await values(await s.sample({ ...opts, cond: zeros }));
    const guided0 = await values(await s.sample({ ...opts, guidance: { scale: 0, uncond: {} } }));
    expect(Math.max(...guided0.map((v, i) => Math.abs(v - withZeros[i])))).toBeLessThan(1e-5);
    // The conditional context (noise from the seed) matters: scale 1 differs from the zero context.
    const plain = await values(await s.sample(opts));
    expect(Math.max(...plain.map((v, i) => Math.abs(v - withZeros[i])))).toBeGreaterThan(1e-4);
    s.dispose();
  });
});
