/**
 * DDPM and DDIM sampling as in improved-diffusion (`gaussian_diffusion.py` + `respace.py`): linear
 * and cosine β schedules, respacing to fewer steps, ε prediction, fixed-large or learned-range
 * variance (a model with 2·C output channels), x₀ clipped to [-1, 1] (an option, on by default, as
 * in both of the reference's samplers); DDIM (`ddim_sample`) with its η; classifier-free guidance
 * for any conditional inputs (`guidedModel`: both halves in one forward). Schedules are computed in
 * float64 on the host, like the reference's numpy; each step runs inside `tf.tidy`.
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
 * A model whose forward finishes later (onnxruntime's `session.run`). `sample` awaits it before
 * each step and hands the step its output; the output is the sampler's to dispose.
 */
export type AsyncEpsModel = (x: tf.Tensor4D, t: tf.Tensor1D) => Promise<tf.Tensor4D>;

/**
 * One reverse step `x_t → x_{t−1}` at respaced index `i` (`p_sample` with `clip_denoised=True`).
 * `learnedSigma`: the model outputs `[ε | v]` on channels and the log-variance interpolates between
 * the clipped posterior log-variance and log β (`LEARNED_RANGE`); otherwise `FIXED_LARGE`.
 */
export function pSample(d: Diffusion, model: EpsModel, x: tf.Tensor4D, i: number, noise: tf.Tensor4D, learnedSigma: boolean, clip = true): tf.Tensor4D {
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
    const x0 = predictX0(x, eps, bar, clip);
    const mean = tf.add(tf.mul(x0, d.posteriorMeanCoef1[i]), tf.mul(x, d.posteriorMeanCoef2[i]));
    if (i === 0) return mean as tf.Tensor4D;
    const std = typeof logVar === 'number' ? Math.exp(0.5 * logVar) : tf.exp(tf.mul(logVar, 0.5));
    return tf.add(mean, tf.mul(noise, std)) as tf.Tensor4D;
  });
}

/** `_predict_xstart_from_eps`, clipped to [-1, 1] when `clip` (`clip_denoised`). */
function predictX0(x: tf.Tensor4D, eps: tf.Tensor4D, bar: number, clip: boolean): tf.Tensor4D {
  const x0 = tf.sub(tf.mul(x, Math.sqrt(1 / bar)), tf.mul(eps, Math.sqrt(1 / bar - 1))) as tf.Tensor4D;
  return clip ? tf.clipByValue(x0, -1, 1) : x0;
}

/** ε from a model's output: all of it, or the first C channels of `[ε | v]` (learned sigma), checked. */
function epsOf(out: tf.Tensor4D, c: number, learnedSigma: boolean): tf.Tensor4D {
  if (learnedSigma) {
    if (out.shape[3] !== 2 * c) throw new Error(`learned sigma needs ${2 * c} output channels (ε and v), the model gives ${out.shape[3]}`);
    return tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, c]);
  }
  if (out.shape[3] !== c) throw new Error(`the model gives ${out.shape[3]} channels for a ${c}-channel image (learned sigma off)`);
  return out;
}

/** DDIM's σ at respaced index `i` for `eta` (0 at the last step, and everywhere for η = 0). */
export function ddimSigma(d: Diffusion, i: number, eta: number): number {
  const bar = d.alphasCumprod[i];
  const prev = d.alphasCumprodPrev[i];
  return eta * Math.sqrt((1 - prev) / (1 - bar)) * Math.sqrt(1 - bar / prev);
}

/**
 * One DDIM step `x_t → x_{t−1}` at respaced index `i` (`ddim_sample`, equation 12 of the DDIM
 * paper): x₀ predicted from ε (and clipped when `clip`), ε derived again from that x₀ (as the
 * reference does, so clipping reaches the direction term), then
 * `x₀·√ᾱ_prev + √(1 − ᾱ_prev − σ²)·ε + σ·noise`. A learned-sigma model's variance channels are
 * ignored (DDIM takes the first C channels as ε). `noise` is read only when σ > 0 (may be null otherwise).
 */
export function ddimStep(d: Diffusion, model: EpsModel, x: tf.Tensor4D, i: number, noise: tf.Tensor4D | null, eta: number, learnedSigma: boolean, clip = true): tf.Tensor4D {
  if (!(eta >= 0) || !Number.isFinite(eta)) throw new Error(`DDIM's eta must be a number of 0 or more (0: deterministic, 1: DDPM-like), got ${eta}`);
  return tf.tidy(() => {
    const [b, , , c] = x.shape;
    const eps0 = epsOf(model(x, tf.fill([b], d.timestepMap[i]) as tf.Tensor1D), c, learnedSigma);
    const bar = d.alphasCumprod[i];
    const prev = d.alphasCumprodPrev[i];
    const x0 = predictX0(x, eps0, bar, clip);
    // _predict_eps_from_xstart: the ε that the (clipped) x₀ implies.
    const eps = tf.div(tf.sub(tf.mul(x, Math.sqrt(1 / bar)), x0), Math.sqrt(1 / bar - 1));
    const sigma = ddimSigma(d, i, eta);
    const mean = tf.add(tf.mul(x0, Math.sqrt(prev)), tf.mul(eps, Math.sqrt(1 - prev - sigma * sigma))) as tf.Tensor4D;
    if (i === 0 || sigma === 0) return mean;
    if (!noise) throw new Error(`DDIM with eta ${eta} needs noise at step ${i}`);
    return tf.add(mean, tf.mul(noise, sigma)) as tf.Tensor4D;
  });
}

/** A model of the sampler's x and t and of conditional inputs by role (batch first, in the module's layout). */
export type ConditionalModel = (x: tf.Tensor4D, t: tf.Tensor1D, cond: Readonly<Record<string, tf.Tensor>>) => tf.Tensor4D;

/**
 * Classifier-free guidance: one forward on `[x; x]` with the conditional inputs and the
 * unconditional ones concatenated on the batch axis (as GLIDE, latent-diffusion and diffusers do),
 * then `ε = ε_u + s·(ε_c − ε_u)` on the first `channels` (ε) channels, written `s·ε_c + (1 − s)·ε_u`
 * so that s = 1 gives ε_c and s = 0 gives ε_u exactly. Channels past `channels` (a learned
 * variance) come from the conditional half. `cond` and `uncond` need the same roles and shapes
 * (their batch is x's); the returned model owns nothing (the caller disposes `cond` and `uncond`).
 */
export function guidedModel(model: ConditionalModel, cond: Readonly<Record<string, tf.Tensor>>, uncond: Readonly<Record<string, tf.Tensor>>, scale: number, channels: number): EpsModel {
  if (!Number.isFinite(scale)) throw new Error(`the guidance scale must be a finite number (1: the conditional prediction, 0: the unconditional one), got ${scale}`);
  const roles = Object.keys(cond).sort();
  const other = Object.keys(uncond).sort();
  if (roles.length === 0) throw new Error('classifier-free guidance needs a conditional input (a class label or a context); this model has none');
  if (roles.join(',') !== other.join(',')) {
    throw new Error(`classifier-free guidance: the conditional inputs (${roles.join(', ')}) and the unconditional ones (${other.join(', ') || 'none'}) must be the same`);
  }
  for (const r of roles) {
    if (cond[r].shape.join('×') !== uncond[r].shape.join('×')) {
      throw new Error(`classifier-free guidance: the conditional ${r} is [${cond[r].shape.join(', ')}] but the unconditional one is [${uncond[r].shape.join(', ')}]`);
    }
  }
  return (x, t) =>
    tf.tidy(() => {
      const b = x.shape[0];
      for (const r of roles) {
        if (cond[r].shape[0] !== b) throw new Error(`classifier-free guidance: ${r} has a batch of ${cond[r].shape[0]}, the image one of ${b}`);
      }
      const both = Object.fromEntries(roles.map((r) => [r, tf.concat([cond[r], uncond[r]], 0)]));
      const out = model(tf.concat([x, x], 0), tf.concat([t, t], 0), both);
      if (out.shape[0] !== 2 * b) throw new Error(`the model gave a batch of ${out.shape[0]} for ${2 * b} inputs`);
      if (out.shape[3] < channels) throw new Error(`the model gives ${out.shape[3]} channels for a ${channels}-channel image`);
      const [oc, ou] = tf.split(out, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
      const epsC = tf.slice(oc, [0, 0, 0, 0], [-1, -1, -1, channels]);
      const epsU = tf.slice(ou, [0, 0, 0, 0], [-1, -1, -1, channels]);
      const eps = tf.add(tf.mul(epsC, scale), tf.mul(epsU, 1 - scale)) as tf.Tensor4D;
      return out.shape[3] === channels ? eps : (tf.concat([eps, tf.slice(oc, [0, 0, 0, channels], [-1, -1, -1, -1])], 3) as tf.Tensor4D);
    });
}

export type SamplerName = 'ddpm' | 'ddim';

export interface SampleOptions {
  readonly shape: readonly [number, number, number, number];
  /** Every seed (0 included) gives the same x_T and step noise every time, on every backend. */
  readonly seed: number;
  readonly learnedSigma: boolean;
  /** `ddpm` (`p_sample`, the default) or `ddim` (`ddim_sample`). */
  readonly sampler?: SamplerName;
  /** DDIM's η: 0 (the default) is deterministic given x_T. */
  readonly eta?: number;
  /** Clip the predicted x₀ to [-1, 1] (`clip_denoised`, default true). */
  readonly clip?: boolean;
  /** Called after each step with the current x (owned by the sampler: copy what you keep); return false to cancel. */
  readonly onStep?: (done: number, total: number, x: tf.Tensor4D) => boolean | void | Promise<boolean | void>;
}

/** The whole reverse process from Gaussian noise; returns x₀ (NHWC, roughly in [-1, 1]). Yields between steps. */
export async function sample(d: Diffusion, model: EpsModel | { readonly async: AsyncEpsModel }, opts: SampleOptions): Promise<tf.Tensor4D | null> {
  const sampler = opts.sampler ?? 'ddpm';
  if (sampler !== 'ddpm' && sampler !== 'ddim') throw new Error(`unknown sampler ${JSON.stringify(sampler)} (ddpm or ddim)`);
  const eta = opts.eta ?? 0;
  if (sampler === 'ddim' && (!(eta >= 0) || !Number.isFinite(eta))) throw new Error(`DDIM's eta must be a number of 0 or more (0: deterministic, 1: DDPM-like), got ${eta}`);
  const clip = opts.clip ?? true;
  // One host generator for x_T and then each step's noise, in order (tfjs's randomNormal treats seed 0 as none).
  const rng = noiseRng(opts.seed);
  const size = opts.shape.reduce((p, q) => p * q, 1);
  const gaussian = () => tf.tensor4d(normals(rng, size), [...opts.shape]);
  let x = gaussian();
  const n = d.timestepMap.length;
  for (let i = n - 1; i >= 0; i--) {
    // DDIM with η = 0 never reads its noise: none is drawn.
    const noise = sampler === 'ddpm' || eta > 0 ? gaussian() : null;
    let next: tf.Tensor4D;
    // An asynchronous model runs first, outside the step's tidy; the step then reads its output.
    let ready: tf.Tensor4D | null = null;
    try {
      let step: EpsModel;
      if (typeof model === 'function') step = model;
      else {
        const t = tf.fill([opts.shape[0]], d.timestepMap[i]) as tf.Tensor1D;
        try {
          ready = await model.async(x, t);
        } finally {
          t.dispose();
        }
        const out = ready;
        step = () => out;
      }
      next = sampler === 'ddpm' ? pSample(d, step, x, i, noise!, opts.learnedSigma, clip) : ddimStep(d, step, x, i, noise, eta, opts.learnedSigma, clip);
    } catch (e) {
      tf.dispose([x, ...(noise ? [noise] : []), ...(ready ? [ready] : [])]);
      throw e;
    }
    ready?.dispose();
    noise?.dispose();
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
