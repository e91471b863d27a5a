/**
 * DDPM sampling as in improved-diffusion (`gaussian_diffusion.py` + `respace.py`): linear and
 * cosine β schedules, respacing to fewer steps, ε prediction, fixed-large or learned-range variance
 * (a model with 2·C output channels), x₀ clipped to [-1, 1]. Schedules are computed in float64 on
 * the host, like the reference's numpy; each step runs inside `tf.tidy`.
 */
import * as tf from '@tensorflow/tfjs';
import { noiseRng, normals } from '../weights/rng';

export type ScheduleName = 'linear' | 'cosine';

/** β₁…β_T of iDDPM's `get_named_beta_schedule`. */
export function betaSchedule(name: ScheduleName, steps: number): Float64Array {
  const betas = new Float64Array(steps);
  if (name === 'linear') {
    // Ho et al.'s schedule, rescaled so any number of steps spans the same range.
    const scale = 1000 / steps;
    const start = scale * 0.0001;
    const end = scale * 0.02;
    for (let i = 0; i < steps; i++) betas[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
    return betas;
  }
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (let i = 0; i < steps; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / steps) / alphaBar(i / steps), 0.999);
  return betas;
}

/** Python's `round`: halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** iDDPM's `space_timesteps(T, [n])`: n timesteps spread evenly over 0…T−1 (both ends kept). */
export function spacedTimesteps(total: number, count: number): number[] {
  if (count < 1 || count > total) throw new Error(`cannot take ${count} sampling steps out of ${total}`);
  if (count === 1) return [0];
  const stride = (total - 1) / (count - 1);
  const out: number[] = [];
  let cur = 0;
  for (let i = 0; i < count; i++) {
    out.push(roundHalfEven(cur));
    cur += stride;
  }
  return out;
}

export interface Diffusion {
  /** The original timestep each (respaced) step feeds the model (respace.py's `timestep_map`). */
  readonly timestepMap: readonly number[];
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly posteriorVariance: Float64Array;
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
}

/**
 * The process for `steps` sampling steps out of a model trained with `trainSteps` (respaced like
 * `SpacedDiffusion`). `rescaleTimesteps` (improved-diffusion's default) feeds the model
 * `t · 1000 / trainSteps`, which only differs from `t` when `trainSteps` is not 1000.
 */
export function makeDiffusion(schedule: ScheduleName, trainSteps: number, steps = trainSteps, rescaleTimesteps = false): Diffusion {
  const base = betaSchedule(schedule, trainSteps);
  const baseBar = new Float64Array(trainSteps);
  let acc = 1;
  for (let i = 0; i < trainSteps; i++) baseBar[i] = acc *= 1 - base[i];
  const map = spacedTimesteps(trainSteps, steps);
  const n = map.length;
  const betas = new Float64Array(n);
  let last = 1;
  map.forEach((t, i) => {
    betas[i] = 1 - baseBar[t] / last;
    last = baseBar[t];
  });
  const bar = new Float64Array(n);
  const prev = new Float64Array(n);
  const pv = new Float64Array(n);
  const plv = new Float64Array(n);
  const c1 = new Float64Array(n);
  const c2 = new Float64Array(n);
  acc = 1;
  for (let i = 0; i < n; i++) {
    prev[i] = acc;
    bar[i] = acc *= 1 - betas[i];
    pv[i] = (betas[i] * (1 - prev[i])) / (1 - bar[i]);
    c1[i] = (betas[i] * Math.sqrt(prev[i])) / (1 - bar[i]);
    c2[i] = ((1 - prev[i]) * Math.sqrt(1 - betas[i])) / (1 - bar[i]);
  }
  // log of the posterior variance, clipped because it is 0 at the first step.
  for (let i = 0; i < n; i++) plv[i] = Math.log(i === 0 ? (n > 1 ? pv[1] : betas[0]) : pv[i]);
  const timestepMap = rescaleTimesteps ? map.map((t) => (t * 1000) / trainSteps) : map;
  return { timestepMap, betas, alphasCumprod: bar, alphasCumprodPrev: prev, posteriorVariance: pv, posteriorLogVarianceClipped: plv, posteriorMeanCoef1: c1, posteriorMeanCoef2: c2 };
}

/** Runs the model on `x_t` at original timestep `t` (NHWC in and out). */
export type EpsModel = (x: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D;

/**
 * One reverse step `x_t → x_{t−1}` at respaced index `i` (`p_sample` with `clip_denoised=True`).
 * `learnedSigma`: the model outputs `[ε | v]` on channels and the log-variance interpolates between
 * the clipped posterior log-variance and log β (`LEARNED_RANGE`); otherwise `FIXED_LARGE`.
 */
export function pSample(d: Diffusion, model: EpsModel, x: tf.Tensor4D, i: number, noise: tf.Tensor4D, learnedSigma: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, , , c] = x.shape;
    const out = model(x, tf.fill([b], d.timestepMap[i]) as tf.Tensor1D);
    let eps: tf.Tensor4D = out;
    let logVar: tf.Tensor | number;
    if (learnedSigma) {
      if (out.shape[3] !== 2 * c) throw new Error(`learned sigma needs ${2 * c} output channels (ε and v), the model gives ${out.shape[3]}`);
      const [e, v] = tf.split(out, 2, 3);
      eps = e as tf.Tensor4D;
      const frac = tf.div(tf.add(v, 1), 2);
      logVar = tf.add(tf.mul(frac, Math.log(d.betas[i])), tf.mul(tf.sub(1, frac), d.posteriorLogVarianceClipped[i]));
    } else {
      if (out.shape[3] !== c) throw new Error(`the model gives ${out.shape[3]} channels for a ${c}-channel image (learned sigma off)`);
      // FIXED_LARGE: β_t, with the posterior variance at the first step.
      logVar = Math.log(i === 0 ? (d.betas.length > 1 ? d.posteriorVariance[1] : d.betas[0]) : d.betas[i]);
    }
    const bar = d.alphasCumprod[i];
    const x0 = tf.clipByValue(tf.sub(tf.mul(x, Math.sqrt(1 / bar)), tf.mul(eps, Math.sqrt(1 / bar - 1))), -1, 1);
    const mean = tf.add(tf.mul(x0, d.posteriorMeanCoef1[i]), tf.mul(x, d.posteriorMeanCoef2[i]));
    if (i === 0) return mean as tf.Tensor4D;
    const std = typeof logVar === 'number' ? Math.exp(0.5 * logVar) : tf.exp(tf.mul(logVar, 0.5));
    return tf.add(mean, tf.mul(noise, std)) as tf.Tensor4D;
  });
}

export interface SampleOptions {
  readonly shape: readonly [number, number, number, number];
  /** Every seed (0 included) gives the same x_T and step noise every time, on every backend. */
  readonly seed: number;
  readonly learnedSigma: boolean;
  /** Called after each step with the current x (owned by the sampler: copy what you keep); return false to cancel. */
  readonly onStep?: (done: number, total: number, x: tf.Tensor4D) => boolean | void | Promise<boolean | void>;
}

/** The whole reverse process from Gaussian noise; returns x₀ (NHWC, roughly in [-1, 1]). Yields between steps. */
export async function sample(d: Diffusion, model: EpsModel, opts: SampleOptions): Promise<tf.Tensor4D | null> {
  // One host generator for x_T and then each step's noise, in order (tfjs's randomNormal treats seed 0 as none).
  const rng = noiseRng(opts.seed);
  const size = opts.shape.reduce((p, q) => p * q, 1);
  const gaussian = () => tf.tensor4d(normals(rng, size), [...opts.shape]);
  let x = gaussian();
  const n = d.timestepMap.length;
  for (let i = n - 1; i >= 0; i--) {
    const noise = gaussian();
    const next = pSample(d, model, x, i, noise, opts.learnedSigma);
    noise.dispose();
    x.dispose();
    x = next;
    const go = await opts.onStep?.(n - i, n, x);
    if (go === false) {
      x.dispose();
      return null;
    }
  }
  return x;
}
