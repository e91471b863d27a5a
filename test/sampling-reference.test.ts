/**
 * runtime/diffusion.ts against the real improved-diffusion samplers: `ddim_sample_loop` (η = 0 and
 * η = 0.5, clip on and off, learned sigma, 4000 rescaled steps) and `p_sample_loop`, plus
 * classifier-free guidance as GLIDE's notebook does it, all with the same fake models, x_T and step
 * noise as `test/reference/make_sampling_reference.py` recorded in `sampling/reference.json`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { ddimStep, guidedModel, makeDiffusion, pSample, type ConditionalModel, type EpsModel, type ScheduleName } from '../runtime/diffusion';
import { useBackend } from '../runtime/backend-node';

interface Case {
  name: string;
  sampler: 'ddim' | 'ddpm';
  schedule: ScheduleName;
  train_steps: number;
  steps: number;
  eta: number;
  clip: boolean;
  learn_sigma: boolean;
  rescale: boolean;
  shape: [number, number, number, number];
  guidance?: { scale: number; cond: number[]; uncond: number[] };
  timestep_map: number[];
  model_timesteps: number[][];
  x_T: number[];
  noise: number[][];
  out: number[];
}

const REF = JSON.parse(readFileSync(fileURLToPath(new URL('./reference/sampling/reference.json', import.meta.url)), 'utf8')) as { cases: Case[] };

beforeAll(async () => {
  await useBackend('cpu');
});

/** NCHW values → an NHWC tensor. */
const nhwc = (v: number[], [b, c, h, w]: number[]) => tf.tidy(() => tf.transpose(tf.tensor4d(v, [b, c, h, w]), [0, 2, 3, 1])) as tf.Tensor4D;

/** The script's fake model on NHWC: ε = 0.1·x + 5e-4·t (+ 0.05·y), v = 0.3 on C more channels. */
const fake =
  (learned: boolean, seen: number[][]): ConditionalModel =>
  (x, t, cond) => {
    seen.push(Array.from(t.dataSync()));
    let eps: tf.Tensor = tf.add(tf.mul(x, 0.1), tf.mul(tf.reshape(t, [-1, 1, 1, 1]), 5e-4));
    if (cond.y) eps = tf.add(eps, tf.mul(tf.reshape(cond.y, [-1, 1, 1, 1]), 0.05));
    return (learned ? tf.concat([eps, tf.mul(tf.onesLike(eps), 0.3)], 3) : eps) as tf.Tensor4D;
  };

describe('samplers vs improved-diffusion (reference.json)', () => {
  it('has the cases it should', () => {
    expect(REF.cases.map((c) => c.name)).toEqual(['ddim-eta0-linear-3', 'ddim-eta0-cosine-learned-noclip', 'ddim-eta0.5-linear-5', 'ddim-eta0-cfg3', 'ddpm-learned-4']);
  });

  for (const c of REF.cases) {
    it(`${c.name}: same model timesteps, final sample within 1e-5 + 1e-5·|ref|`, () => {
      const d = makeDiffusion(c.schedule, c.train_steps, c.steps, c.rescale);
      expect([...d.timestepMap]).toEqual(c.timestep_map.map((t) => (c.rescale ? (t * 1000) / c.train_steps : t)));
      const [b, ch, h, w] = c.shape;
      const seen: number[][] = [];
      const disposeLater: tf.Tensor[] = [];
      let model: EpsModel;
      if (c.guidance) {
        const y = tf.tensor1d(c.guidance.cond);
        const nul = tf.tensor1d(c.guidance.uncond);
        disposeLater.push(y, nul);
        model = guidedModel(fake(c.learn_sigma, seen), { y }, { y: nul }, c.guidance.scale, ch);
      } else {
        const m = fake(c.learn_sigma, seen);
        model = (x, t) => m(x, t, {});
      }
      const before = tf.memory().numTensors;
      let x = nhwc(c.x_T, c.shape);
      for (let i = c.steps - 1; i >= 0; i--) {
        const k = c.steps - 1 - i;
        const noise = nhwc(c.noise[k], c.shape);
        const next = c.sampler === 'ddim' ? ddimStep(d, model, x, i, noise, c.eta, c.learn_sigma, c.clip) : pSample(d, model, x, i, noise, c.learn_sigma, c.clip);
        tf.dispose([x, noise]);
        x = next;
      }
      // The reference's model saw the doubled batch under guidance: its timesteps are ours, twice over.
      expect(seen.map((s) => s.slice(0, b))).toEqual(c.model_timesteps.map((s) => s.slice(0, b)));
      expect(seen.every((s) => s.length === (c.guidance ? 2 * b : b))).toBe(true);
      const got = tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]).dataSync());
      x.dispose();
      tf.dispose(disposeLater);
      expect(tf.memory().numTensors).toBe(before - disposeLater.length);
      expect(got.length).toBe(b * ch * h * w);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - c.out[i]) / (1e-5 + 1e-5 * Math.abs(c.out[i])));
      expect(worst).toBeLessThanOrEqual(1);
    });
  }
});
