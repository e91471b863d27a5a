/**
 * The whole-model parity runner shared by test/ldm.test.ts (latent-diffusion's UNetModel) and
 * test/diffusers-cond.test.ts (UNet2DConditionModel): on cpu and wasm, each case's graph has the real
 * parameter count and state_dict, and its output matches the real `io.out` within 1e-4 + 1e-4·|ref|
 * both through the interpreter and through the generated tfjs module (loaded with the same file by its
 * own strict loader), the two bit-equal. The cases and their loaders are test/cond-cases.ts'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { countParameters } from '../graph/analyze';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { useBackend, type NodeBackend } from '../runtime/backend-node';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { typecheckModule } from '../codegen/targets/tfjs/typecheck';
import { loadModule } from '../runtime/evaluate';
import { toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { againstReference, caseInputs, expectMatches, weightsOnly } from './diffusers-cases';
import { graphListing, type ModelCase } from './cond-cases';
import { readSafetensors } from './util';

/** `out` against the file's `io.out` (1e-4 + 1e-4·|ref|, a real signal); our output, NCHW. */
async function expectReference(out: tf.Tensor, file: SafetensorsFile): Promise<Float32Array> {
  const o = await againstReference(out, file);
  expectMatches(o, 1e-4, 1e-4);
  return o.got;
}

/**
 * One describe per backend, titled `${what} on ${backend} (1e-4 + 1e-4·|ref|), interpreted and as the
 * generated module`, with one test per case.
 */
export function describeModelParity(what: string, cases: readonly ModelCase[]): void {
  for (const backend of ['cpu', 'wasm'] as const satisfies readonly NodeBackend[]) {
    describe(`${what} on ${backend} (1e-4 + 1e-4·|ref|), interpreted and as the generated module`, () => {
      beforeAll(async () => {
        await useBackend(backend);
      });
      afterAll(() => {
        expect(tf.getBackend()).toBe(backend);
      });

      it.each(cases.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
        const file = readSafetensors(c.path);
        const graph = c.graph();
        const plan = planGraph(graph);
        expect(countParameters(plan)).toBe(c.num_parameters);
        expect(graphListing(graph)).toEqual(c.state_dict);
        const inputs = caseInputs(file);
        const weights = loadWeights(plan, weightsOnly(file), `${c.name}.safetensors`);
        let interpreted: Float32Array;
        try {
          const { out } = runGraph(plan, weights, inputs);
          interpreted = await expectReference(out, file);
          out.dispose();
        } finally {
          disposeWeights(weights);
        }
        // The generated module, loaded with the same file through its own strict loader.
        const mod = generateModule(graph, readSources());
        if (backend === 'cpu') expect(typecheckModule(mod.text)).toEqual([]);
        expect(mod.inputs).toEqual(c.tokens === null ? ['x', 'timesteps', 'y'] : ['x', 'timesteps', 'context']);
        const given: Record<string, tf.Tensor> = {};
        for (const [key, t] of weightsOnly(file).tensors) given[key] = tf.tensor(toFloat32(t), [...t.shape], 'float32');
        const model = loadModule(mod.text, mod.className).fromTensors(given, `${c.name}.safetensors`);
        tf.dispose(Object.values(given));
        const out = model.forward(...mod.inputs.map((r) => inputs[r]!));
        const generated = await expectReference(out, file);
        expect(Array.from(generated)).toEqual(Array.from(interpreted));
        tf.dispose([out, ...Object.values(inputs)]);
        model.dispose();
      }, 60_000);
    });
  }
}
