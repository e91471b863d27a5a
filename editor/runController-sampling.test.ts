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
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { writeSafetensors } from '../weights/safetensors';
import { IDDPM_SMALL } from '../bench/configs';
import { EMPTY_CODE, type CodeState } from './codegenClient';
import { RunController, type RunControllerDeps, type RunState } from './runController';
import { channelImages } from './tensorImage';

const TINY = { ...IDDPM_SMALL, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1] };
const CLASSES: Graph = iddpm({ ...TINY, num_classes: 10 }, 4);
const LATENT: Graph = iddpm({ ...TINY, in_channels: 4, out_channels: 4 }, 4);

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
});
