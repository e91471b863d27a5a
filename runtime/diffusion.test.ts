import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { betaSchedule, makeDiffusion, pSample, roundHalfEven, sample, spacedTimesteps } from './diffusion';
import { useBackend } from './backend-node';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('schedules (improved-diffusion get_named_beta_schedule)', () => {
  it('linear: 1e-4 … 0.02 over 1000 steps, rescaled for other lengths', () => {
    const b = betaSchedule('linear', 1000);
    expect(b[0]).toBeCloseTo(1e-4, 12);
    expect(b[999]).toBeCloseTo(0.02, 12);
    expect(b[500]).toBeCloseTo(1e-4 + (0.02 - 1e-4) * (500 / 999), 12);
    const b4000 = betaSchedule('linear', 4000);
    expect(b4000[0]).toBeCloseTo(0.25e-4, 12);
    expect(b4000[3999]).toBeCloseTo(0.005, 12);
  });

  it('cosine: β_t = 1 − ᾱ(t/T)/ᾱ((t−1)/T), capped at 0.999', () => {
    const b = betaSchedule('cosine', 1000);
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(b[0]).toBeCloseTo(1 - f(0.001) / f(0), 14);
    expect(b[420]).toBeCloseTo(1 - f(0.421) / f(0.42), 14);
    expect(b[999]).toBe(0.999);
  });
});

describe('respacing (respace.py)', () => {
  it('space_timesteps rounds like Python (halves to even)', () => {
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(2.4)).toBe(2);
    expect(spacedTimesteps(1000, 1000)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(spacedTimesteps(10, 4)).toEqual([0, 3, 6, 9]);
    expect(spacedTimesteps(6, 5)).toEqual([0, 1, 2, 4, 5]); // stride 1.25: 0, 1.25, 2.5→2, 3.75→4, 5
    expect(() => spacedTimesteps(10, 11)).toThrow(/cannot take 11 sampling steps out of 10/);
  });

  it('keeps ᾱ at the kept timesteps; all steps kept = the original process', () => {
    const full = makeDiffusion('linear', 1000);
    const spaced = makeDiffusion('linear', 1000, 50);
    spaced.timestepMap.forEach((t, i) => expect(spaced.alphasCumprod[i]).toBeCloseTo(full.alphasCumprod[t], 12));
    const again = makeDiffusion('linear', 1000, 1000);
    expect(again.betas.length).toBe(1000);
    for (let i = 0; i < 1000; i += 97) expect(again.betas[i]).toBeCloseTo(full.betas[i], 12);
    expect(makeDiffusion('linear', 4000, 100, true).timestepMap[99]).toBe(999.75);
  });

  it('posterior coefficients satisfy q(x_{t−1} | x_t, x₀) identities', () => {
    const d = makeDiffusion('cosine', 1000, 100);
    for (const i of [1, 10, 57, 99]) {
      const prev = d.alphasCumprodPrev[i];
      const bar = d.alphasCumprod[i];
      // E[x_{t−1}] with x_t = √ᾱ_t x₀ (no noise) is √ᾱ_{t−1} x₀.
      expect(d.posteriorMeanCoef1[i] + d.posteriorMeanCoef2[i] * Math.sqrt(bar)).toBeCloseTo(Math.sqrt(prev), 12);
      expect(d.posteriorVariance[i]).toBeCloseTo((d.betas[i] * (1 - prev)) / (1 - bar), 14);
    }
  });
});

describe('sampling', () => {
  it('with a model that knows x₀ (exact ε), 50 steps recover x₀', async () => {
    const d = makeDiffusion('linear', 1000, 50);
    const x0 = tf.tidy(() => tf.sub(tf.mul(tf.linspace(0, 1, 2 * 4 * 4 * 3), 1.6), 0.8).reshape([2, 4, 4, 3])) as tf.Tensor4D;
    const barOf = new Map(d.timestepMap.map((t, i) => [t, d.alphasCumprod[i]]));
    const oracle = (x: tf.Tensor4D, t: tf.Tensor1D): tf.Tensor4D => {
      const bar = barOf.get(t.dataSync()[0])!;
      return tf.div(tf.sub(x, tf.mul(x0, Math.sqrt(bar))), Math.sqrt(1 - bar)) as tf.Tensor4D;
    };
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    const out = await sample(d, oracle, { shape: [2, 4, 4, 3], seed: 7, learnedSigma: false, onStep: (done) => void steps.push(done) });
    expect(steps).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(tf.memory().numTensors).toBe(before + 1);
    const err = Math.max(...Array.from(tf.abs(tf.sub(out!, x0)).dataSync()));
    expect(err).toBeLessThan(1e-4);
    tf.dispose([out!, x0]);
  });

  it('learned sigma splits [ε | v] and interpolates the log-variance; cancel stops early', async () => {
    const d = makeDiffusion('linear', 1000, 10);
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    const noise = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    // ε = 0, v = 1 → log σ² = log β_t: x_{t−1} = mean + √β_t · noise, mean = 0 for x = 0, ε = 0.
    const model = (xi: tf.Tensor4D) => tf.concat([tf.zerosLike(xi), tf.onesLike(xi)], 3) as tf.Tensor4D;
    const y = pSample(d, model, x, 5, noise, true);
    expect(y.dataSync()[0]).toBeCloseTo(Math.sqrt(d.betas[5]), 6);
    expect(() => pSample(d, model, x, 5, noise, false)).toThrow(/gives 2 channels for a 1-channel image/);
    let calls = 0;
    const r = await sample(d, model, { shape: [1, 2, 2, 1], seed: 1, learnedSigma: true, onStep: () => ++calls < 3 });
    expect(r).toBeNull();
    expect(calls).toBe(3);
    tf.dispose([x, noise, y]);
  });
  it('every seed, 0 included, gives the same samples every time; seeds differ (tfjs treats seed 0 as none: not used)', async () => {
    const d = makeDiffusion('linear', 1000, 3);
    // A model that passes x through keeps every bit of x_T and the step noise in the result.
    const model = (x: tf.Tensor4D) => tf.mul(x, 0.5) as tf.Tensor4D;
    const once = async (seed: number) => {
      const out = (await sample(d, model, { shape: [1, 4, 4, 3], seed, learnedSigma: false }))!;
      const v = Array.from(await out.data());
      out.dispose();
      return v;
    };
    const a = await once(0);
    expect(await once(0)).toEqual(a);
    expect(await once(1)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(a.length / 3); // noise, not a constant (x₀ is clipped to ±1)
  });
});
