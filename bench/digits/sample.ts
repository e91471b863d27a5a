/**
 * `npx tsx bench/digits/sample.ts [WEIGHTS] [OUT] [--steps N] [--backend wasm|cpu]`: the app's own
 * DDPM sampler (runtime/diffusion.ts, the run panel's) with the interpreter, on the "Digits
 * (trained)" preset: 100 samples, 10 of each class (labels 0…9), respaced to N steps of the linear
 * 1000-step schedule the model was trained with. Writes `x` [100, 1, 16, 16] (NCHW, in [-1, 1])
 * and `y` to OUT, for `python3 bench/digits/classify.py OUT`, and a PNG-free text preview.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { parseDocument } from '../../graph/document';
import { planGraph, runGraph } from '../../runtime/interpreter';
import { loadWeights } from '../../runtime/weights';
import { makeDiffusion, sample } from '../../runtime/diffusion';
import { useBackend, isNodeBackend } from '../../runtime/backend-node';
import { parseSafetensors, writeSafetensors } from '../../weights/safetensors';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { steps: { type: 'string', default: '50' }, backend: { type: 'string', default: 'wasm' }, seed: { type: 'string', default: '0' } } });
const here = new URL('../../editor/presets/digits/', import.meta.url);
const weightsPath = positionals[0] ?? new URL('weights.safetensors', here).pathname;
const out = positionals[1] ?? '/tmp/digit-samples.safetensors';
const backend = values.backend ?? 'wasm';
if (!isNodeBackend(backend)) throw new Error(`--backend: ${backend}`);
await useBackend(backend);

const graph = parseDocument(readFileSync(new URL('graph.json', here), 'utf8')).graph;
const plan = planGraph(graph);
const weights = loadWeights(plan, parseSafetensors(new Uint8Array(readFileSync(weightsPath)), { source: weightsPath }), weightsPath);
const n = 100;
const labels = Float32Array.from({ length: n }, (_, i) => i % 10);
const y = tf.tensor1d(labels);
const d = makeDiffusion('linear', 1000, Number(values.steps));
const t0 = performance.now();
const x = await sample(d, (xt, t) => runGraph(plan, weights, { x: xt, timesteps: t, y }).out, {
  shape: [n, 16, 16, 1],
  seed: Number(values.seed),
  learnedSigma: false,
  onStep: (done, total) => void (done % 10 === 0 && process.stderr.write(`step ${done}/${total}\n`)),
});
const seconds = (performance.now() - t0) / 1000;
const nchw = tf.transpose(x!, [0, 3, 1, 2]);
const data = (await nchw.data()) as Float32Array;
writeFileSync(out, writeSafetensors({ x: { dtype: 'F32', shape: [n, 1, 16, 16], data }, y: { dtype: 'I64', shape: [n], data: BigInt64Array.from(labels, (v) => BigInt(v)) } }));
process.stderr.write(`${n} samples, ${values.steps} steps on ${backend} in ${seconds.toFixed(1)} s → ${out}\n`);
// A text preview of the first sample of each class.
for (let c = 0; c < 10; c++) {
  const rows: string[] = [];
  for (let r = 0; r < 16; r++) rows.push(Array.from({ length: 16 }, (_, q) => (data[c * 256 + r * 16 + q] > 0 ? '#' : '.')).join(''));
  process.stderr.write(`class ${c}\n${rows.join('\n')}\n`);
}
