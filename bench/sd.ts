/**
 * Stable Diffusion 1.x's UNet (859,520,964 parameters, the `ldm` template's `sd1` preset) at 64×64
 * latents (a 512×512 image), batch 1, in Node on tfjs-wasm, random weights: one forward's time and
 * the memory it takes. Its float32 weights (3.4 GB) do not fit beside the activations in wasm's one
 * 4 GB heap (resident, the forward aborts), so they stay on the host and go to the backend one block
 * at a time (runtime/host-weights.ts). The forward is ~800 GFLOP: one run, no warm-up (wasm compiles
 * nothing per shape).
 */
import * as tf from '@tensorflow/tfjs';
import { analyze, countFlops } from '../graph/analyze';
import { ldm, SD1_UNET } from '../graph/templates';
import { expectedWeights } from '../graph/weights';
import { useBackend } from '../runtime/backend-node';
import { randomHostWeights } from '../runtime/host-weights';
import { planGraph, runGraph } from '../runtime/interpreter';

/** The wasm backend's heap (it only grows: its size after a run is the run's peak reservation). */
function wasmHeapBytes(): number {
  // The module object is not in tfjs's public types; HEAPU8 is Emscripten's view of the heap.
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.length ?? NaN;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

export async function sdBench(log: (s: string) => void): Promise<string[][]> {
  await useBackend('wasm');
  const graph = ldm(SD1_UNET, 64);
  const plan = planGraph(graph);
  const gflop = countFlops(analyze(graph)) / 1e9;
  log('… SD 1.x UNet: random weights on the host\n');
  const weights = randomHostWeights(expectedWeights(plan), 1);
  const x = tf.randomNormal([1, 64, 64, 4], 0, 1, 'float32', 1);
  const timesteps = tf.tensor1d([500]);
  const context = tf.randomNormal([1, 77, SD1_UNET.context_dim], 0, 1, 'float32', 2);
  const before = tf.memory().numTensors;
  let peakBytes = 0;
  log('… SD 1.x UNet: one forward on wasm (about a minute)\n');
  const s = performance.now();
  const { out } = runGraph(plan, weights, { x, timesteps, context }, { onBlock: () => void (peakBytes = Math.max(peakBytes, tf.memory().numBytes)) });
  await out.data();
  const ms = performance.now() - s;
  out.dispose();
  if (tf.memory().numTensors !== before) throw new Error(`tensor leak: ${tf.memory().numTensors - before} tensors`);
  tf.dispose([x, timesteps, context]);
  const rss = process.resourceUsage().maxRSS * 1024;
  return [
    ['SD 1.x UNet 64×64 latents, batch 1, weights streamed from the host', 'wasm', ms.toFixed(0), gflop.toFixed(1), (gflop / (ms / 1000)).toFixed(1), '1'],
    [`  weights ${mb(weights.bytes)} on the host; wasm heap ${mb(wasmHeapBytes())}; peak between blocks ${mb(peakBytes)} of tensors`, 'wasm', '-', '-', '-', '-'],
    [`  peak resident memory of the process (maxRSS) ${mb(rss)}`, '-', '-', '-', '-', '-'],
  ];
}
