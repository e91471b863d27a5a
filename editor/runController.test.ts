/**
 * The run panel's controller in Node: tfjs's cpu backend stands in for the browser's, and the
 * module comes from the code generator in-process instead of the code worker. Reference values are
 * PyTorch's (the iddpm-small fixture: weights, inputs, the output and a block's activation).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../runtime/backend-node';
import { fingerprint, RuntimeSession } from '../runtime/session';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { parseSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { IDDPM_SMALL } from '../bench/configs';
import { closeness, FIXTURES } from '../test/util';
import { EMPTY_CODE, type CodeState } from './codegenClient';
import { RunController, type CodeSource, type RunControllerDeps, type RunState } from './runController';
import { channelImages, pixelsToInput } from './tensorImage';

const fixture = (name: string) => new Uint8Array(readFileSync(`${FIXTURES}${name}`));
const WEIGHTS = fixture('iddpm-small/weights.safetensors');
const IO = fixture('iddpm-small/io.safetensors');
const ioTensor = (key: string) => {
  const t = parseSafetensors(IO).tensors.get(key)!;
  return { data: toFloat32(t), shape: t.shape };
};

const GRAPH: Graph = iddpm(IDDPM_SMALL, 16);
/** The same weights at 8×8: faster, for what needs no reference activations. */
const SMALL: Graph = iddpm(IDDPM_SMALL, 8);
const modules = new Map<Graph, CodeState>();

/** The code worker's part, in-process: "generating", then the module (asynchronously, as a worker answers). */
function inProcessCode(onChange: (s: CodeState) => void): CodeSource {
  let latest = 0;
  return {
    request(graph: Graph) {
      const id = ++latest;
      onChange({ ...EMPTY_CODE, status: 'generating' });
      setTimeout(() => {
        if (id !== latest) return;
        let code = modules.get(graph);
        if (!code) {
          const mod = generateModule(graph, readSources());
          code = { ...EMPTY_CODE, status: 'ok', text: mod.text, js: transpile(mod.text), className: mod.className, inputs: mod.inputs };
          modules.set(graph, code);
        }
        onChange(code);
      }, 0);
    },
    dispose() {},
  };
}

const deps = (over: Partial<RunControllerDeps> = {}): RunControllerDeps => ({
  chooseBackend: async () => {
    await useBackend('cpu');
    return { backend: 'cpu', notice: '' };
  },
  backends: ['webgpu', 'webgl', 'wasm', 'cpu'],
  makeCode: inProcessCode,
  memoryBytes: () => 8 * 2 ** 30,
  measureRate: async () => 1000,
  codeDelayMs: 0,
  liveDelayMs: 0,
  breathe: async () => {},
  ...over,
});

/** Resolves with the first state that satisfies `pred` (now or after a change). */
function until(c: RunController, pred: (s: RunState) => boolean, what: string): Promise<RunState> {
  return new Promise((resolve, reject) => {
    let off = () => {};
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, 30_000);
    const check = () => {
      const s = c.getState();
      if (!pred(s)) return;
      off();
      clearTimeout(timer);
      resolve(s);
    };
    off = c.subscribe(check);
    check();
  });
}

const open: RunController[] = [];

/** A controller on the cpu backend with the iddpm-small module loaded. */
async function ready(over: Partial<RunControllerDeps> = {}, graph: Graph = GRAPH): Promise<RunController> {
  const c = new RunController(deps(over), graph);
  open.push(c);
  await c.start('cpu');
  await until(c, (s) => s.moduleCurrent && s.rate !== null, 'the module and the rate');
  return c;
}

describe('RunController (the run panel without React)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.dispose();
  });

  it('a whole Stable Diffusion-style checkpoint: the UNet under model.diffusion_model. runs, and the panel notes the parts ignored', async () => {
    const c = await ready();
    await c.openWeights('weights.safetensors', WEIGHTS);
    expect(c.getState().checkpointNote).toBeNull();
    const whole: Record<string, TensorToWrite> = {
      'first_stage_model.decoder.conv_in.weight': { dtype: 'F32', shape: [2], data: [1, 2] },
      'cond_stage_model.transformer.embeddings.weight': { dtype: 'F16', shape: [1], data: [0.5] },
    };
    for (const [k, t] of parseSafetensors(WEIGHTS).tensors) whole[`model.diffusion_model.${k}`] = { dtype: 'F32', shape: t.shape, data: toFloat32(t) };
    await c.openWeights('sd-whole.safetensors', writeSafetensors(whole));
    const s = c.getState();
    expect(s).toMatchObject({ weightsLabel: 'sd-whole.safetensors', mismatch: null, failure: null });
    expect(s.checkpointNote).toMatch(/^a whole checkpoint: the UNet was read from under "model\.diffusion_model\." \(\d+ tensors\); 2 tensors of its other parts ignored \(cond_stage_model\. 1, first_stage_model\. 1\)$/);
    await c.openInputs('io.safetensors', IO);
    await c.run();
    const out = parseSafetensors((await c.outputSafetensors())!).tensors.get('out')!;
    const close = closeness(toFloat32(out), ioTensor('out').data, 1e-4, 1e-4);
    expect(close.ok, `worst at ${close.at}: ${close.maxAbs}`).toBe(true);
  });

  it('runs the fixture with its weights and inputs file: PyTorch’s output, the picture, the channels, timings', async () => {
    const c = await ready();
    expect(c.getState().choice).toEqual({ backend: 'cpu', notice: '' });
    expect(c.getState().gate?.kind).toBe('go');
    await c.openWeights('weights.safetensors', WEIGHTS);
    await c.openInputs('io.safetensors', IO);
    expect(c.getState()).toMatchObject({ weightsLabel: 'weights.safetensors', mismatch: null, inputsName: 'io.safetensors', failure: null });
    await c.run();
    const s = c.getState();
    expect(s.result).toMatchObject({ first: true, runs: 1, steady: null });
    expect(s.firstMs).toBe(s.result!.ms);
    expect(s.busy).toBe(false);

    const bytes = await c.outputSafetensors();
    const out = parseSafetensors(bytes!).tensors.get('out')!;
    const ref = ioTensor('out');
    expect(out.shape).toEqual([2, 3, 16, 16]);
    const close = closeness(toFloat32(out), ref.data, 1e-4, 1e-4);
    expect(close.ok, `worst at ${close.at}: ${close.maxAbs}`).toBe(true);

    // The fingerprint is of the NHWC output the model gave; the picture and the channels show its first sample.
    const got = toFloat32(out); // NCHW
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor(got, [2, 3, 16, 16]), [0, 2, 3, 1]));
    expect(s.checksum).toBe(fingerprint((await nhwc.data()) as Float32Array));
    nhwc.dispose();
    const at = (ch: number, y: number, x: number) => got[(ch * 16 + y) * 16 + x];
    expect(s.image).toMatchObject({ width: 16, height: 16 });
    for (const [y, x] of [[0, 0], [7, 3], [15, 15]]) {
      const p = 4 * (y * 16 + x);
      const want = [0, 1, 2].map((ch) => Math.round(255 * Math.min(1, Math.max(0, Math.fround(at(ch, y, x) + 1) / 2))));
      expect(Array.from(s.image!.data.slice(p, p + 4))).toEqual([...want, 255]);
    }
    expect(s.outputMap).toMatchObject({ h: 16, w: 16, c: 3 });
    expect(s.outputMap!.data[(5 * 16 + 9) * 3 + 2]).toBe(at(2, 5, 9));
    const grid = channelImages(s.outputMap!);
    expect(grid.map((g) => g.channel)).toEqual([0, 1, 2]);
    expect(grid[1].lo).toBe(Math.min(...Array.from({ length: 256 }, (_, i) => got[256 + i])));

    // A second run: not first, counted, the same output for the same file inputs.
    await c.run();
    expect(c.getState().result).toMatchObject({ first: false, runs: 2 });
    expect(c.getState().result!.steady).toBeGreaterThan(0);
    expect(c.getState().firstMs).toBe(s.firstMs);
    expect(c.getState().checksum).toBe(s.checksum);

  });

  it('probes the selected block (PyTorch’s activation) and profiles every block; a missing block is an error', async () => {
    const c = await ready();
    await c.openWeights('weights.safetensors', WEIGHTS);
    await c.openInputs('io.safetensors', IO);
    c.setProbeTarget('input_blocks.3.1');
    const s = await until(c, (x) => x.probe?.name === 'input_blocks.3.1', 'the probe');
    expect(s.probe!.map).toMatchObject({ h: 8, w: 8, c: 64 });
    const ref = ioTensor('act.input_blocks.3.1'); // [2, 64, 8, 8]: sample 0, NCHW
    const refNhwc = new Float32Array(8 * 8 * 64);
    for (let ch = 0; ch < 64; ch++) for (let p = 0; p < 64; p++) refNhwc[p * 64 + ch] = ref.data[ch * 64 + p];
    const close = closeness(s.probe!.map.data, refNhwc, 1e-4, 1e-4);
    expect(close.ok, `worst at ${close.at}: ${close.maxAbs}`).toBe(true);
    expect(s.probe!.stats.max).toBeGreaterThan(s.probe!.stats.min);

    await c.profile();
    const rows = c.getState().profile!;
    expect(rows.length).toBe(GRAPH.nodes.length - 3); // x, timesteps, output are not blocks
    expect(rows.map((r) => r.name)).toContain('middle_block.1');
    expect(rows.find((r) => r.name === 'middle_block.1')!.type).toBe('Attention');

    c.setProbeTarget('nope');
    const f = await until(c, (x) => x.failure !== null, 'the probe’s failure');
    expect(f.failure!.message).toBe('no block named "nope"');
    expect(f.probe!.name).toBe('input_blocks.3.1'); // the last good probe stays
  });

  it('samples (the session’s own result for the same seed, schedule and label), and Cancel stops it with nothing left behind', async () => {
    const c = await ready({}, SMALL);
    await c.openWeights('weights.safetensors', WEIGHTS);
    c.setSchedule('cosine');
    c.setSteps(4);
    c.setSeed(2);
    const seen: number[] = [];
    const off = c.subscribe(() => {
      const p = c.getState().sampling;
      if (p && seen.at(-1) !== p.done) seen.push(p.done);
    });
    await c.sample();
    off();
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    const s = c.getState();
    expect(s.sampling).toBeNull();
    expect(s.busy).toBe(false);

    const direct = new RuntimeSession();
    direct.setWeights({ kind: 'file', name: 'w', bytes: WEIGHTS });
    const mod = generateModule(SMALL, readSources());
    direct.setModule(SMALL, transpile(mod.text), mod.className, mod.inputs);
    const want = await direct.sample({ schedule: 'cosine', trainSteps: 1000, steps: 4, seed: 2, label: 0, batch: 1, learnedSigma: false });
    expect(s.checksum).toBe(fingerprint((await want!.data()) as Float32Array));
    want!.dispose();
    direct.dispose();

    // Cancel after the third of 20 steps: no new output, progress gone, no tensor left.
    const before = tf.memory().numTensors;
    c.setSteps(20);
    const stop = c.subscribe(() => {
      if ((c.getState().sampling?.done ?? 0) >= 3) c.cancelSample();
    });
    await c.sample();
    stop();
    expect(c.getState()).toMatchObject({ sampling: null, busy: false, checksum: s.checksum });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('switches weights: random (seed 0: a fresh iDDPM outputs zeros), the file’s (not zeros), a file that does not fit, random from another seed', async () => {
    const c = await ready({}, SMALL);
    const runStd = async () => {
      await c.run();
      return c.getState().result!.stats.std;
    };
    expect(c.getState().weightsLabel).toBe('random (seed 0)');
    expect(await runStd()).toBe(0);
    await c.openWeights('weights.safetensors', WEIGHTS);
    expect(c.getState().firstMs).toBeNull(); // new weights: the next run is a first run again
    expect(await runStd()).toBeGreaterThan(0); // the fixture's last conv is trained: not zero
    expect(c.getState().result!.first).toBe(true);

    await c.openWeights('vanilla.safetensors', fixture('vanilla-small/weights.safetensors'));
    const m = c.getState();
    expect(m.weightsLabel).toBe('random (seed 0): vanilla.safetensors does not fit');
    expect(m.mismatch).toContain('vanilla.safetensors does not match the graph');
    expect(m.mismatch).toMatch(/missing keys \(128\)[\s\S]*time_embed\.0\.weight/);
    expect(await runStd()).toBe(0);

    c.setSeed(3);
    c.randomWeights();
    expect(c.getState()).toMatchObject({ weightsLabel: 'random (seed 3)', mismatch: null });
    const moduleReady = c.getState().moduleReady;
    await c.openWeights('weights.safetensors', WEIGHTS);
    expect(c.getState().moduleReady).toBe(moduleReady + 1);

    // Live mode: starting it runs, and so does every change of the weights or the inputs.
    const runs = c.getState().result!.runs;
    c.setLive(true);
    await until(c, (x) => x.result?.runs === runs + 1 && !x.busy, 'a live run when live mode starts');
    c.setTimestep(12);
    await until(c, (x) => x.result?.runs === runs + 2 && !x.busy, 'a live run after an input change');
    expect(c.getState().result!.stats.std).toBeGreaterThan(0);
  });

  it('a failed action shows its classified failure and frees its tensors; a bad file is reported at once', async () => {
    const c = await ready({}, SMALL);
    await c.run(); // weights made
    const before = tf.memory().numTensors;
    // vanilla-small's inputs are 3×32×32 images: this graph takes 3×8×8.
    await c.openInputs('vanilla-io.safetensors', fixture('vanilla-small/io.safetensors'));
    await c.run();
    const s = c.getState();
    expect(s.failure).toMatchObject({ kind: 'input', message: "InputsError: the inputs file's x is 3×32×32 per sample, the graph takes 3×8×8", tryBackends: [] });
    expect(s.busy).toBe(false);
    expect(s.result!.runs).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    // A weights file as the inputs file: named at once, nothing run.
    await c.openInputs('weights.safetensors', WEIGHTS);
    expect(c.getState().failure!.message).toMatch(/^InputsError: weights\.safetensors has no tensor "x"/);
    expect(c.getState().inputsName).toBe('vanilla-io.safetensors');
    // The next good action clears it.
    c.clearInputs();
    await c.run();
    expect(c.getState().failure).toBeNull();
  });

  it('the gate: a slow run asks first (Cancel starts nothing, Start runs); a model beyond the memory is refused before anything is made', async () => {
    const slow = await ready({ measureRate: async () => 1e-3 }, SMALL);
    const before = tf.memory().numTensors;
    let prepared = false;
    slow.subscribe(() => void (slow.getState().preparing && (prepared = true)));
    await slow.run();
    expect(slow.getState().confirm?.question).toMatch(/^Run is expected to take about [\d.]+ (s|min|h) on cpu\. Start it anyway\?$/);
    slow.confirmCancel();
    expect(slow.getState().confirm).toBeNull();
    expect(prepared).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    await slow.sample();
    expect(slow.getState().confirm?.question).toMatch(/^Sampling \(50 steps\) is expected to take/);
    slow.confirmCancel();
    await slow.run();
    slow.confirmStart();
    const s = await until(slow, (x) => x.result?.runs === 1 && !x.busy, 'the confirmed run');
    expect(s.confirm).toBeNull();
    expect(prepared).toBe(true);

    const small = await ready({ memoryBytes: () => 1000 }, SMALL);
    expect(small.getState().gate?.kind).toBe('refuse');
    const count = tf.memory().numTensors;
    await small.run();
    expect(small.getState().refused!.join('; ')).toMatch(/more than cpu can hold here/);
    expect(small.getState().result).toBeNull();
    small.setProbeTarget('middle_block.1'); // a probe never makes weights a run could not hold
    await new Promise((r) => setTimeout(r, 50));
    expect(small.getState().probe).toBeNull();
    expect(tf.memory().numTensors).toBe(count);
  });

  it('20 runs leave the tensor count flat, and dispose frees every tensor it held', async () => {
    const before = tf.memory().numTensors;
    const c = await ready({}, SMALL);
    c.setProbeTarget('input_blocks.1.0');
    await c.run();
    await until(c, (x) => x.probe !== null, 'the probe');
    const held = tf.memory().numTensors;
    expect(held).toBeGreaterThan(before); // weights and the output
    for (let i = 0; i < 20; i++) {
      if (i % 5 === 0) c.setSeed(i); // a new probe follows too
      await c.run();
    }
    await until(c, (x) => x.result?.runs === 21 && !x.busy, '21 runs');
    await new Promise((r) => setTimeout(r, 50)); // probes that followed the seed changes
    expect(tf.memory().numTensors).toBe(held);
    expect(c.getState().memory.numTensors).toBe(held);
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // After dispose nothing changes and nothing is made.
    const last = c.getState();
    await c.run();
    expect(c.getState()).toBe(last);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pixelsToInput: RGB in [-1, 1] per channel, grey for one channel', () => {
    const px = new Uint8ClampedArray([0, 255, 51, 255, 255, 0, 0, 255]); // 1×2
    const f32 = (xs: number[]) => xs.map((x) => Math.fround(x));
    expect(Array.from(pixelsToInput(px, 3, 1, 2))).toEqual(f32([-1, 1, 1, -1, 51 / 127.5 - 1, -1]));
    expect(Array.from(pixelsToInput(px, 1, 1, 2))).toEqual(f32([102 / 127.5 - 1, 85 / 127.5 - 1]));
    expect(() => pixelsToInput(px, 3, 2, 2)).toThrow('the image has 2 pixels, 2×2 = 4 were expected');
  });
});
