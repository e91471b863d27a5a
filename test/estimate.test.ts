/** The estimate (graph/estimate) against what the runtime makes and measures for the same graph. */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { analyze, countFlops, countParameters } from '../graph/analyze';
import { estimateCost } from '../graph/estimate';
import { iddpm } from '../graph/templates';
import { randomWeights, disposeWeights } from '../runtime/weights';
import { runGraph } from '../runtime/interpreter';
import { fixtureConfig } from './util';

const small = () => {
  const c = fixtureConfig('iddpm-small');
  return analyze(iddpm(c.kwargs, c.imageSize));
};

describe('estimateCost against the runtime', () => {
  it('agrees with the parameter and FLOP counts and with the weights the runtime makes', () => {
    const a = small();
    const est = estimateCost(a, 3);
    expect(est.parameters).toBe(countParameters(a));
    expect(est.flops).toBe(3 * countFlops(a));
    const w = randomWeights(a, 1);
    let bytes = 0;
    for (const t of w.values()) bytes += t.size * (t.dtype === 'int32' ? 8 : 4);
    disposeWeights(w);
    expect(est.weightBytes).toBe(bytes);
  });

  it('has a peak of live activations within what tfjs measures for the same forward pass', async () => {
    await tf.setBackend('cpu');
    const a = small();
    const est = estimateCost(a, 2);
    const w = randomWeights(a, 1);
    const x = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const t = tf.tensor1d([3, 700]);
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => {
      const r = runGraph(a, w, { x, timesteps: t });
      r.out.dispose();
    });
    const measured = info.peakBytes - before;
    tf.dispose([x, t]);
    disposeWeights(w);
    // Block outputs alive at once plus the running block's declared temporaries, against tfjs's own
    // count of bytes alive at the peak of the same pass.
    expect(est.peakActivationBytes).toBeGreaterThan(0);
    expect(est.peakActivationBytes).toBeLessThanOrEqual(measured * 1.25);
    expect(est.peakActivationBytes).toBeGreaterThanOrEqual(measured * 0.8);
  });
});
