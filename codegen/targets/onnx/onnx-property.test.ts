/**
 * Random valid graphs (test/random-graph.ts, every block type, the Context input included):
 * onnxruntime-node's `out` equals the interpreter's (tfjs wasm, the app's own forward, itself pinned
 * to PyTorch by the fixtures and the reference cases) within 1e-4 + 1e-4·|ref|, on the same random
 * weights (every weight drawn, so no zero-initialised layer hides a path) and inputs; the run
 * reaches every block type and every corner in REQUIRED_CORNERS.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { analyze } from '../../../graph/analyze';
import { expectedWeights } from '../../../graph/weights';
import type { Graph } from '../../../graph/model';
import { Rng } from '../../../weights/rng';
import type { SafetensorsTensor } from '../../../weights/safetensors';
import { planGraph, runGraph } from '../../../runtime/interpreter';
import { disposeWeights, loadWeights } from '../../../runtime/weights';
import { useBackend } from '../../../runtime/backend-node';
import { BLOCK_TYPES } from '../../../blocks/registry';
import { buildCase, contextShape, corners, labelValues, recipeArb, REQUIRED_CORNERS, timestepValues, type Case } from '../../../test/random-graph';
import { closeness } from '../../../test/util';
import { exportOnnx } from './export';

const caseArb: fc.Arbitrary<Case> = recipeArb.map(buildCase);

/** Every weight at random in PyTorch layout: matrices N(0, 1/fan_in), norm weights 1 ± 0.2, biases ± 0.2, running_var in [0.5, 1.5). */
function randomTensors(g: Graph, seed: number): Map<string, SafetensorsTensor> {
  const rng = new Rng(seed);
  const out = new Map<string, SafetensorsTensor>();
  for (const w of expectedWeights(analyze(g))) {
    const n = w.shape.reduce((p, q) => p * q, 1);
    if (w.key.endsWith('num_batches_tracked')) {
      out.set(w.fullKey, { name: w.fullKey, dtype: 'I64', shape: w.shape, data: new BigInt64Array(n) });
      continue;
    }
    const fan = w.shape.length > 1 ? w.shape.slice(1).reduce((p, q) => p * q, 1) : 1;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      v[i] = w.key.endsWith('running_var') ? 0.5 + rng.next() : w.shape.length > 1 ? z / Math.sqrt(fan) : w.key.endsWith('weight') ? 1 + 0.2 * z : 0.2 * z;
    }
    out.set(w.fullKey, { name: w.fullKey, dtype: 'F32', shape: w.shape, data: v });
  }
  return out;
}

describe('ONNX export equals the interpreter on random valid graphs', () => {
  beforeAll(async () => {
    // wasm: the interpreter's forward as the app runs it (it agrees with cpu within 2e-6), ~8× faster here.
    await useBackend('wasm');
  });

  it('onnxruntime-node vs runGraph (wasm)', async () => {
    const seen = new Set<string>();
    let worst = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const { graph, recipe } = c;
        const a = analyze(graph);
        expect(a.ok).toBe(true);
        for (const n of graph.nodes) seen.add(n.type);
        for (const t of corners(graph, a, recipe.batch)) seen.add(t);
        const tensors = randomTensors(graph, recipe.weightSeed);
        const files = exportOnnx(graph, { metadata: {}, tensors });
        const dims = a.info.get(graph.nodes.find((n) => n.type === 'ImageInput')!.id)!.out!.dims;
        const b = recipe.batch;
        const rng = new Rng(recipe.dataSeed);
        const xs = Float32Array.from({ length: b * dims[0] * dims[1] * dims[2] }, () => rng.normal());
        const ts = Float32Array.from(timestepValues(recipe));
        const ys = labelValues(c);
        const cs = contextShape(recipe) ?? [b, 1, 1];
        const ctx = Float32Array.from({ length: cs[0] * cs[1] * cs[2] }, () => rng.normal());
        const feeds: Record<string, ort.Tensor> = { x: new ort.Tensor('float32', xs, [b, dims[0], dims[1], dims[2]]) };
        if (files.inputs.includes('timesteps')) feeds.timesteps = new ort.Tensor('float32', ts, [b]);
        if (files.inputs.includes('y')) feeds.y = new ort.Tensor('int64', BigInt64Array.from(ys, (v) => BigInt(v)), [b]);
        if (files.inputs.includes('context')) feeds.context = new ort.Tensor('float32', ctx, cs);
        expect(Object.keys(feeds).sort()).toEqual([...files.inputs].sort());
        const s = await ort.InferenceSession.create(files.files[0].bytes!, { intraOpNumThreads: 1 });
        const got = (await s.run(feeds)).out;
        await s.release();

        const plan = planGraph(graph);
        const w = loadWeights(plan, { metadata: {}, tensors }, 'random');
        const x = tf.tidy(() => tf.transpose(tf.tensor(xs, [b, dims[0], dims[1], dims[2]]), [0, 2, 3, 1]));
        const inputs = { x, timesteps: tf.tensor1d(ts), y: tf.tensor1d(ys), context: tf.tensor3d(ctx, cs) };
        const r = runGraph(plan, w, {
          x,
          ...(files.inputs.includes('timesteps') ? { timesteps: inputs.timesteps } : {}),
          ...(files.inputs.includes('y') ? { y: inputs.y } : {}),
          ...(files.inputs.includes('context') ? { context: inputs.context } : {}),
        });
        const want = tf.transpose(r.out, [0, 3, 1, 2]);
        expect(got.dims).toEqual(want.shape);
        const cl = closeness(got.data as Float32Array, await want.data(), 1e-4, 1e-4);
        worst = Math.max(worst, cl.maxAbs);
        tf.dispose([x, inputs.timesteps, inputs.y, inputs.context, r.out, want]);
        disposeWeights(w);
        expect(cl.ok, `${graph.nodes.map((n) => n.type).join(' ')}: ${JSON.stringify(cl)}`).toBe(true);
      }),
      // The tfjs property test's seed (codegen/property.test.ts: the cheapest of 3000 seeds whose first
      // 16 graphs reach every block type and every corner in REQUIRED_CORNERS).
      { numRuns: 16, seed: 2386, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
    console.log(`random graphs: max |onnx - interpreter| ${worst.toExponential(2)}`);
    expect([...BLOCK_TYPES].filter((t) => !seen.has(t))).toEqual([]);
    expect(REQUIRED_CORNERS.filter((t) => !seen.has(t))).toEqual([]);
  }, 120_000);
});
