import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { betaSchedule, ddimSigma, ddimStep, guidedModel, makeDiffusion, pSample, roundHalfEven, sample, spacedTimesteps, type ConditionalModel } from './diffusion';
import { noiseRng, normals } from '../weights/rng';
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

/** Largest |a − b| over two equally long arrays. */
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('DDIM (ddim_sample)', () => {
  it('eta 0, ε(x, t) = 0.99·x, 3 steps, clip on and off: the float64 hand derivation, x_T from the seed (nothing else drawn)', async () => {
    const d = makeDiffusion('linear', 1000, 3);
    expect(d.timestepMap).toEqual([0, 500, 999]);
    const shape = [2, 3, 3, 2] as const;
    const n = shape.reduce((p, q) => p * q, 1);
    // Hand derivation in float64, element by element: x₀ = x/√ᾱ − ε·√(1/ᾱ − 1), clipped or not; ε' = (x/√ᾱ − x₀)/√(1/ᾱ − 1);
    // x_prev = x₀·√ᾱ_prev + ε'·√(1 − ᾱ_prev) (σ = 0). ᾱ from the linear schedule at t = 999, 500, 0.
    const base = betaSchedule('linear', 1000);
    const barAt: number[] = [];
    let acc = 1;
    for (let t = 0; t < 1000; t++) barAt.push((acc *= 1 - base[t]));
    const bars = [barAt[999], barAt[500], barAt[0]];
    const prevs = [barAt[500], barAt[0], 1];
    const xT = Array.from(normals(noiseRng(11), n));
    let clippedSome = false;
    let keptSome = false;
    const hand = (clip: boolean) =>
      xT.map((v0) => {
        let v = v0;
        for (let k = 0; k < 3; k++) {
          const bar = bars[k];
          const eps = 0.99 * v;
          const raw = v / Math.sqrt(bar) - eps * Math.sqrt(1 / bar - 1);
          const x0 = clip ? Math.min(1, Math.max(-1, raw)) : raw;
          if (clip && k === 0) (Math.abs(raw) > 1 ? (clippedSome = true) : (keptSome = true));
          const e2 = (v / Math.sqrt(bar) - x0) / Math.sqrt(1 / bar - 1);
          v = x0 * Math.sqrt(prevs[k]) + e2 * Math.sqrt(1 - prevs[k]);
        }
        return v;
      });
    for (const clip of [true, false]) {
      const want = hand(clip);
      let calls = 0;
      const model = (x: tf.Tensor4D, t: tf.Tensor1D) => {
        expect(Array.from(t.dataSync())).toEqual(new Array(2).fill([999, 500, 0][calls++]));
        return tf.mul(x, 0.99) as tf.Tensor4D;
      };
      const before = tf.memory().numTensors;
      const out = (await sample(d, model, { shape, seed: 11, learnedSigma: false, sampler: 'ddim', eta: 0, clip }))!;
      expect(calls).toBe(3);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(maxDiff(out.dataSync(), want)).toBeLessThan(1e-5);
      // Deterministic: the same seed gives the same bits.
      const again = (await sample(d, (x) => tf.mul(x, 0.99) as tf.Tensor4D, { shape, seed: 11, learnedSigma: false, sampler: 'ddim', clip }))!;
      expect(Array.from(again.dataSync())).toEqual(Array.from(out.dataSync()));
      tf.dispose([out, again]);
    }
    // The case exercises both sides of the clip, and clipping changes the result.
    expect(clippedSome && keptSome).toBe(true);
    expect(maxDiff(hand(true), hand(false))).toBeGreaterThan(0.1);
  });

  it('σ(η) as in equation 16; η = 1 at one step equals the DDPM posterior variance; the last step adds no noise', () => {
    const d = makeDiffusion('cosine', 1000, 20);
    for (const i of [1, 7, 19]) expect(ddimSigma(d, i, 1) ** 2).toBeCloseTo(d.posteriorVariance[i], 14);
    expect(ddimSigma(d, 0, 1)).toBe(0);
    expect(ddimSigma(d, 7, 0)).toBe(0);
    expect(ddimSigma(d, 7, 0.5)).toBeCloseTo(0.5 * Math.sqrt(d.posteriorVariance[7]), 14);
    // x = 0, ε = 0: x₀ = 0, the mean is 0, so the step is σ·noise.
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    const noise = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    const zero = (xi: tf.Tensor4D) => tf.zerosLike(xi) as tf.Tensor4D;
    const y = ddimStep(d, zero, x, 7, noise, 0.5, false);
    expect(y.dataSync()[0]).toBeCloseTo(ddimSigma(d, 7, 0.5), 6);
    const last = ddimStep(d, zero, x, 0, noise, 1, false);
    expect(Array.from(last.dataSync())).toEqual([0, 0, 0, 0]);
    expect(() => ddimStep(d, zero, x, 7, null, 0.5, false)).toThrow(/needs noise at step 7/);
    expect(() => ddimStep(d, zero, x, 7, noise, -1, false)).toThrow(/eta must be a number of 0 or more/);
    tf.dispose([x, noise, y, last]);
  });

  it('learned sigma: the first C channels are ε, the rest ignored; a wrong channel count is named', () => {
    const d = makeDiffusion('linear', 1000, 10);
    const x = tf.tidy(() => tf.reshape(tf.linspace(-0.9, 0.9, 8), [1, 2, 2, 2])) as tf.Tensor4D;
    const plain = (xi: tf.Tensor4D) => tf.mul(xi, 0.3) as tf.Tensor4D;
    const learned = (xi: tf.Tensor4D) => tf.concat([tf.mul(xi, 0.3), tf.fill(xi.shape, 123)], 3) as tf.Tensor4D;
    const a = ddimStep(d, plain, x, 4, null, 0, false);
    const b = ddimStep(d, learned, x, 4, null, 0, true);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => ddimStep(d, plain, x, 4, null, 0, true)).toThrow(/learned sigma needs 4 output channels/);
    expect(() => ddimStep(d, learned, x, 4, null, 0, false)).toThrow(/gives 4 channels for a 2-channel image/);
    // clip off: x₀ is not clipped, so a large x gives a different (larger) step than with clipping.
    const big = tf.mul(x, 50) as tf.Tensor4D;
    const clipped = ddimStep(d, plain, big, 9, null, 0, false, true);
    const free = ddimStep(d, plain, big, 9, null, 0, false, false);
    expect(Math.max(...Array.from(free.dataSync()).map(Math.abs))).toBeGreaterThan(Math.max(...Array.from(clipped.dataSync()).map(Math.abs)));
    tf.dispose([x, a, b, big, clipped, free]);
  });
});

describe('classifier-free guidance', () => {
  // A conditional fake: ε = 0.1·x + 0.05·y (y per sample) and, on 2·C channels, v = y.
  const calls: number[] = [];
  const condModel =
    (learned: boolean): ConditionalModel =>
    (x, _t, cond) => {
      calls.push(x.shape[0]);
      const y = tf.reshape(cond.y, [-1, 1, 1, 1]);
      const eps = tf.add(tf.mul(x, 0.1), tf.mul(y, 0.05)) as tf.Tensor4D;
      return learned ? (tf.concat([eps, tf.mul(tf.onesLike(eps), y)], 3) as tf.Tensor4D) : eps;
    };

  it('scale 1 is the conditional prediction exactly, scale 0 the unconditional one, in ONE forward of the doubled batch', () => {
    const x = tf.tidy(() => tf.reshape(tf.linspace(-2, 2, 2 * 3 * 3 * 2), [2, 3, 3, 2])) as tf.Tensor4D;
    const t = tf.tensor1d([500, 500]);
    const y = tf.tensor1d([3, 7]);
    const nul = tf.tensor1d([10, 10]);
    const direct = (label: tf.Tensor) => condModel(true)(x, t, { y: label });
    const wantC = direct(y);
    const wantU = direct(nul);
    calls.length = 0;
    const one = guidedModel(condModel(true), { y }, { y: nul }, 1, 2)(x, t);
    expect(calls).toEqual([4]);
    expect(Array.from(one.dataSync())).toEqual(Array.from(wantC.dataSync()));
    const zero = guidedModel(condModel(true), { y }, { y: nul }, 0, 2)(x, t);
    const zeroV = zero.dataSync();
    const wantUV = wantU.dataSync();
    const wantCV = wantC.dataSync();
    // ε channels (0, 1 of 4) are the unconditional ones; the variance channels stay the conditional half's.
    for (let i = 0; i < zeroV.length; i++) expect(zeroV[i]).toBe(i % 4 < 2 ? wantUV[i] : wantCV[i]);
    // Scale 3: ε_u + 3·(ε_c − ε_u) = ε_u + 3·0.05·(y − null), per sample.
    const three = guidedModel(condModel(false), { y }, { y: nul }, 3, 2)(x, t).dataSync();
    const xs = x.dataSync();
    for (let i = 0; i < xs.length; i++) {
      const label = i < xs.length / 2 ? 3 : 7;
      const epsU = 0.1 * xs[i] + 0.05 * 10;
      expect(three[i]).toBeCloseTo(epsU + 3 * 0.05 * (label - 10), 5);
    }
    tf.dispose([x, t, y, nul, wantC, wantU, one, zero]);
  });

  it('refuses mismatched inputs and a model without conditional inputs, by name', () => {
    const y = tf.tensor1d([1]);
    const m = condModel(false);
    expect(() => guidedModel(m, {}, {}, 2, 1)).toThrow(/needs a conditional input/);
    expect(() => guidedModel(m, { y }, {}, 2, 1)).toThrow(/conditional inputs \(y\) and the unconditional ones \(none\) must be the same/);
    const two = tf.tensor1d([1, 2]);
    expect(() => guidedModel(m, { y }, { y: two }, 2, 1)).toThrow(/the conditional y is \[1\] but the unconditional one is \[2\]/);
    expect(() => guidedModel(m, { y }, { y }, Number.NaN, 1)).toThrow(/guidance scale must be a finite number/);
    tf.dispose([y, two]);
  });

  it('DDIM with guidance: tensors stable over a whole run (everything inside tidy or disposed)', async () => {
    const d = makeDiffusion('linear', 1000, 6);
    const y = tf.tensor1d([2, 5]);
    const nul = tf.tensor1d([10, 10]);
    const model = guidedModel(condModel(true), { y }, { y: nul }, 4, 3);
    await sample(d, model, { shape: [2, 4, 4, 3], seed: 3, learnedSigma: true, sampler: 'ddim', eta: 0.3 }).then((o) => o!.dispose());
    const before = tf.memory().numTensors;
    for (const sampler of ['ddim', 'ddpm'] as const) {
      const out = await sample(d, model, { shape: [2, 4, 4, 3], seed: 3, learnedSigma: true, sampler, eta: 0.3 });
      out!.dispose();
    }
    const cancelled = await sample(d, model, { shape: [2, 4, 4, 3], seed: 3, learnedSigma: true, sampler: 'ddim', onStep: (k) => k < 2 });
    expect(cancelled).toBeNull();
    await expect(sample(d, guidedModel(condModel(false), { y }, { y: nul }, 4, 3), { shape: [2, 4, 4, 3], seed: 3, learnedSigma: true, sampler: 'ddim' })).rejects.toThrow(/learned sigma needs 6/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([y, nul]);
  });
});
