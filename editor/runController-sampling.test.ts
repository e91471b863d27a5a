/**
 * The run panel's sampling controls without React: DDPM|DDIM, η, classifier-free guidance over the
 * model's conditional inputs (the null label, an unconditional file), and a latent model's output
 * shown as one grey picture per channel.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../runtime/backend-node';
import { fingerprint, RuntimeSession } from '../runtime/session';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { iddpm, ldm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { writeSafetensors } from '../weights/safetensors';
import { IDDPM_SMALL } from '../bench/configs';
import { EMPTY_CODE, type CodeState } from './codegenClient';
import { RunController, type RunControllerDeps, type RunState } from './runController';
import { channelImages } from './tensorImage';

const TINY = { ...IDDPM_SMALL, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1] };
const CLASSES: Graph = iddpm({ ...TINY, num_classes: 10 }, 4);
const LATENT: Graph = iddpm({ ...TINY, in_channels: 4, out_channels: 4 }, 4);
/** A tiny text-conditioned latent UNet: one level with a SpatialTransformer reading an 8-wide context of 77 tokens. */
const TEXT: Graph = ldm({ in_channels: 4, out_channels: 4, model_channels: 32, channel_mult: [1], num_res_blocks: 1, attention_resolutions: [1], num_heads: 2, use_spatial_transformer: true, context_dim: 8, legacy: false }, 4);

/** Deterministic values in [-1, 1) (a small LCG), so the file's tensors differ from the seed's noise. */
const values = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
};
/**
 * Weights with no zeros (PyTorch's init zeroes ldm's out conv and proj_out, which makes the output
 * ignore the context): every tensor small values from the LCG, as a state_dict `.safetensors`.
 */
const denseWeights = (g: Graph) =>
  writeSafetensors(
    Object.fromEntries(
      expectedWeights(analyze(g)).map((w, i) => [w.fullKey, { dtype: 'F32' as const, shape: [...w.shape], data: values(w.shape.reduce((a, b) => a * b, 1), 100 + i).map((v) => 0.3 * v) }]),
    ),
  );

/** An inputs `.safetensors` with a batch: x [B,4,4,4] and a context [B,77,8] under the given name. */
const inputsFile = (batch: number, contextName = 'context', seed = 7) =>
  writeSafetensors({
    x: { dtype: 'F32', shape: [batch, 4, 4, 4], data: values(batch * 64, seed) },
    [contextName]: { dtype: 'F32', shape: [batch, 77, 8], data: values(batch * 77 * 8, seed + 1) },
  });

const deps: RunControllerDeps = {
  chooseBackend: async () => {
    await useBackend('cpu');
    return { backend: 'cpu', notice: '' };
  },
  backends: ['cpu'],
  makeCode: (onChange) => ({
    request(graph: Graph) {
      onChange({ ...EMPTY_CODE, status: 'generating' });
      setTimeout(() => {
        const mod = generateModule(graph, readSources());
        const code: CodeState = { ...EMPTY_CODE, status: 'ok', text: mod.text, js: transpile(mod.text), className: mod.className, inputs: mod.inputs };
        onChange(code);
      }, 0);
    },
    dispose() {},
  }),
  memoryBytes: () => 8 * 2 ** 30,
  measureRate: async () => 1000,
  codeDelayMs: 0,
  liveDelayMs: 0,
  breathe: async () => {},
};

const open: RunController[] = [];
async function ready(graph: Graph): Promise<RunController> {
  const c = new RunController(deps, graph);
  open.push(c);
  await c.start('cpu');
  await new Promise<void>((resolve) => {
    const check = (s: RunState) => s.moduleCurrent && s.rate !== null;
    if (check(c.getState())) return resolve();
    const off = c.subscribe(() => {
      if (check(c.getState())) {
        off();
        resolve();
      }
    });
  });
  return c;
}

describe('RunController sampling controls', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.dispose();
  });

  it('DDIM with guidance and a null label: the session’s own result; the null label defaults to the last class', async () => {
    const c = await ready(CLASSES);
    const s0 = c.getState();
    expect(s0.condInputs).toEqual([{ role: 'y', label: 'class label y' }]);
    expect(s0.uncondValue).toBe(9);
    expect(s0.uncondSources).toEqual([{ role: 'y', label: 'class label y', source: 'value' }]);
    expect(s0.latent).toBe(false);
    c.randomWeights();
    c.setSeed(0);
    c.setSampler('ddim');
    c.setEta(0.25);
    c.setGuidance(2.5);
    c.setLabel(3);
    c.setSteps(3);
    await c.sample();
    const s = c.getState();
    expect(s.failure).toBeNull();
    const direct = new RuntimeSession();
    const mod = generateModule(CLASSES, readSources());
    direct.setModule(CLASSES, transpile(mod.text), mod.className, mod.inputs);
    const want = await direct.sample({
      schedule: 'linear', trainSteps: 1000, steps: 3, seed: 0, label: 3, batch: 1, learnedSigma: false,
      sampler: 'ddim', eta: 0.25, guidance: { scale: 2.5, uncond: { values: { y: 9 } } },
    });
    expect(s.checksum).toBe(fingerprint((await want!.data()) as Float32Array));
    want!.dispose();
    direct.dispose();
    // An unconditional file wins over the value; a bad one is reported, not thrown.
    await c.openUncondInputs('u.safetensors', writeSafetensors({ class_labels: { dtype: 'F32', shape: [1], data: [9] } }));
    expect(c.getState()).toMatchObject({ uncondName: 'u.safetensors', uncondSources: [{ role: 'y', source: 'file' }] });
    await c.openUncondInputs('bad.safetensors', writeSafetensors({ x: { dtype: 'F32', shape: [1], data: [0] } }));
    expect(c.getState().failure?.message).toMatch(/bad\.safetensors has none of the conditional inputs/);
    c.clearUncondInputs();
    expect(c.getState().uncondName).toBeNull();
    c.setEta(7);
    c.setGuidance(Number.NaN);
    expect(c.getState()).toMatchObject({ eta: 1, guidance: 1 });
  });

  it('a latent model (4 channels): no conditional inputs, the output held as a 4-channel map drawn in grey', async () => {
    const c = await ready(LATENT);
    expect(c.getState()).toMatchObject({ latent: true, condInputs: [], uncondSources: [] });
    c.setSeed(1);
    c.randomWeights();
    c.setSteps(2);
    await c.sample();
    const map = c.getState().outputMap!;
    expect([map.h, map.w, map.c]).toEqual([4, 4, 4]);
    const grey = channelImages(map, true);
    expect(grey).toHaveLength(4);
    for (const g of grey) {
      const d = g.image.data;
      for (let p = 0; p < d.length; p += 4) expect(d[p] === d[p + 1] && d[p] === d[p + 2] && d[p + 3] === 255).toBe(true);
    }
    // Scaled to its own range: a channel's lowest value is black, its highest white.
    const ch0 = Array.from({ length: 16 }, (_, p) => map.data[p * 4]);
    const lowest = ch0.indexOf(Math.min(...ch0));
    const highest = ch0.indexOf(Math.max(...ch0));
    expect(grey[0].hi).toBeGreaterThan(grey[0].lo);
    expect(grey[0].image.data[4 * lowest]).toBe(0);
    expect(grey[0].image.data[4 * highest]).toBe(255);
  });

  it('sampling takes the inputs file\'s context (encoder_hidden_states too) as its conditional input; the unconditional one is zeros; a batch it cannot use is named', async () => {
    const c = await ready(TEXT);
    expect(c.getState()).toMatchObject({ latent: true, condInputs: [{ role: 'context', label: 'context' }], fileCond: [], uncondSources: [{ role: 'context', source: 'zeros' }] });
    const weights = denseWeights(TEXT);
    await c.openWeights('w.safetensors', weights);
    expect(c.getState()).toMatchObject({ weightsLabel: 'w.safetensors', mismatch: null });
    c.setSeed(3);
    c.setSampler('ddim');
    c.setSteps(3);
    c.setGuidance(3);
    const direct = new RuntimeSession();
    const mod = generateModule(TEXT, readSources());
    direct.setModule(TEXT, transpile(mod.text), mod.className, mod.inputs);
    direct.setWeights({ kind: 'file', name: 'w.safetensors', bytes: weights });
    expect(direct.mismatch).toBeNull();
    const base = { schedule: 'linear' as const, trainSteps: 1000, steps: 3, seed: 3, label: 0, batch: 1, learnedSigma: false, sampler: 'ddim' as const, eta: 0, guidance: { scale: 3, uncond: {} } };
    const checksumOf = async (opts: Parameters<RuntimeSession['sample']>[0]) => {
      const out = (await direct.sample(opts))!;
      try {
        return fingerprint((await out.data()) as Float32Array);
      } finally {
        out.dispose();
      }
    };
    const context = { data: Float32Array.from(values(77 * 8, 8)), shape: [1, 77, 8] };
    const withFile = await checksumOf({ ...base, cond: { file: { name: 'io.safetensors', inputs: { context } } } });
    const withNoise = await checksumOf(base);
    expect(withFile).not.toBe(withNoise);

    // Without a file: the context is the seed's noise, as before.
    await c.sample();
    expect(c.getState().failure).toBeNull();
    expect(c.getState().checksum).toBe(withNoise);

    // diffusers' name for it, batch 1: the same context, so the same sample.
    await c.openInputs('io.safetensors', inputsFile(1, 'encoder_hidden_states'));
    expect(c.getState()).toMatchObject({ inputsName: 'io.safetensors', fileCond: [{ role: 'context', label: 'context' }], failure: null });
    await c.sample();
    expect(c.getState().failure).toBeNull();
    expect(c.getState().checksum).toBe(withFile);
    expect(c.getState().outputMap?.c).toBe(4);

    // A batch of 2 (a Run takes it whole): sampling makes one image, so it is refused by name.
    await c.openInputs('two.safetensors', inputsFile(2));
    const before = c.getState().checksum;
    await c.sample();
    expect(c.getState().failure?.message).toMatch(/^InputsError: two\.safetensors: its context has a batch of 2, but sampling makes 1 image: give a batch of 1 to sample with it/);
    expect(c.getState().checksum).toBe(before);

    c.clearInputs();
    expect(c.getState().fileCond).toEqual([]);
    direct.dispose();
  });
});

