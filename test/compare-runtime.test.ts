/**
 * The comparison table's activation memory (graph/compare.ts, from graph/estimate.ts's liveness)
 * against tfjs's own count of the bytes alive at the peak of the same forward pass on the cpu
 * backend, in the interpreter and in the generated module: equal to the byte for these graphs,
 * whose kernels' temporaries are exactly what the blocks declare. The caller's input x (1024 B) is
 * made before the pass, so tfjs's peak above the bytes alive before it excludes x: added back.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { compareRow } from '../graph/compare';
import type { Graph } from '../graph/model';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { loadModule } from '../runtime/evaluate';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, randomWeights } from '../runtime/weights';
import { convChain, skipGraph } from './compare-graphs';

const X_BYTES = 4 * 8 * 8 * 4;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function peakAbove(f: () => tf.Tensor): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => void f().dispose());
  return info.peakBytes - before;
}

const GRAPHS: readonly [string, Graph][] = [
  ['x skip with SiLU', skipGraph()],
  ['conv chain', convChain(false)],
  ['conv chain with a skip', convChain(true)],
];

describe('activation memory against tfjs (cpu)', () => {
  it.each(GRAPHS)('%s: the interpreter and the generated module peak at the table’s bytes', async (_label, g) => {
    const expected = compareRow({ id: 'g', name: g.name, graph: g }).activationBytes!;
    const x = tf.randomNormal([1, 8, 8, 4]);
    const plan = planGraph(g);
    const w = randomWeights(plan, 1);
    const interp = await peakAbove(() => runGraph(plan, w, { x }).out);
    disposeWeights(w);
    const { text, className } = generateModule(g, readSources());
    const model = loadModule(text, className).random(1);
    const generated = await peakAbove(() => model.forward(x));
    model.dispose();
    x.dispose();
    expect(interp + X_BYTES).toBe(expected);
    expect(generated + X_BYTES).toBe(expected);
  });
});
