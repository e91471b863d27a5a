import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { fingerprint, RuntimeSession, type RunInputs } from './session';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { Cancelled } from './failure';
import { useBackend } from './backend-node';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { IDDPM_SMALL } from '../bench/configs';
import { FIXTURES } from '../test/util';

const weightsFile = () => new Uint8Array(readFileSync(`${FIXTURES}iddpm-small/weights.safetensors`));

function load(session: RuntimeSession, g: Graph): void {
  const mod = generateModule(g, readSources());
  session.setModule(g, transpile(mod.text), mod.className, mod.inputs);
}

const INPUTS: RunInputs = { batch: 1, noiseSeed: 3, values: { timesteps: 517, y: 0 } };

describe('runtime session (the runtime panel without its view)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('runs the generated module, keeps file weights across edits that keep keys and shapes, reports a mismatch otherwise', async () => {
    const s = new RuntimeSession();
    const g = iddpm(IDDPM_SMALL, 16);
    s.setWeights({ kind: 'file', name: 'weights.safetensors', bytes: weightsFile() });
    load(s, g);
    expect(s.mismatch).toBeNull();
    const a = await s.run(INPUTS);
    expect(a.first).toBe(true);
    expect(a.out.shape).toEqual([1, 16, 16, 3]);
    expect(a.stats.std).toBeGreaterThan(0.1); // fixture weights: a real output, not the zero of a fresh model
    // An edit that keeps every key and shape (dropout is inactive at inference): same weights, same output.
    const g2: Graph = { ...g, nodes: g.nodes.map((n) => (n.name === 'input_blocks.1.0' ? { ...n, params: { ...n.params, dropout: 0.5 } } : n)) };
    load(s, g2);
    expect(s.mismatch).toBeNull();
    const b = await s.run(INPUTS);
    expect(Array.from(await b.out.data())).toEqual(Array.from(await a.out.data()));
    // An edit that changes a shape: the report names the keys, and random weights take over.
    const g3: Graph = { ...g, nodes: g.nodes.map((n) => (n.name === 'out.2' ? { ...n, params: { ...n.params, out_channels: 6 } } : n)) };
    load(s, g3);
    expect(s.mismatch?.mismatched.map((m) => m.key)).toEqual(['out.2.weight', 'out.2.bias']);
    expect(s.mismatch?.message).toContain('out.2.weight: the graph needs [6, 32, 3, 3], the file has [3, 32, 3, 3]');
    const c = await s.run(INPUTS);
    expect(c.out.shape).toEqual([1, 16, 16, 6]);
    tf.dispose([a.out, b.out, c.out]);
    s.dispose();
  });

  // 25 runs: the count is compared exactly, so a leak of one tensor per run shows as surely as in 100.
  it('25 runs leave the tensor count flat; the steady time is a median of runs after the first', async () => {
    const s = new RuntimeSession();
    load(s, iddpm(IDDPM_SMALL, 8));
    await s.prepare(); // the weights are made on demand: make them before counting
    const before = tf.memory().numTensors;
    for (let i = 0; i < 25; i++) (await s.run({ ...INPUTS, noiseSeed: i })).out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(s.steadyMs).toBeGreaterThan(0);
    s.dispose();
  });

  it('probes a node, profiles every block, and samples', async () => {
    const before = tf.memory().numTensors;
    const s = new RuntimeSession();
    s.setWeights({ kind: 'file', name: 'w', bytes: weightsFile() });
    load(s, iddpm(IDDPM_SMALL, 16));
    const p = await s.probe('input_blocks.3.1', INPUTS);
    expect(p.out.shape).toEqual([1, 8, 8, 64]);
    expect(p.stats.max).toBeGreaterThan(p.stats.min);
    p.out.dispose();
    const rows = await s.profile(INPUTS);
    expect(rows.map((r) => r.name)).toContain('middle_block.1');
    expect(rows.length).toBe(iddpm(IDDPM_SMALL, 16).nodes.length - 3); // x, timesteps, output are not blocks
    expect(rows.every((r) => r.ms >= 0)).toBe(true);
    const seen: number[] = [];
    const out = await s.sample({ schedule: 'cosine', trainSteps: 1000, steps: 4, seed: 1, label: 0, batch: 2, learnedSigma: false, onStep: (d) => void seen.push(d) });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(out!.shape).toEqual([2, 16, 16, 3]);
    out!.dispose();
    s.dispose(); // the session's weights (and its interpreter copy for probes) go with it
    expect(tf.memory().numTensors).toBe(before);
  });

  it('every seed, 0 included, gives the same weights and noise every time (two sessions, bit for bit); seed 0 ≠ seed 1', async () => {
    const g = iddpm(IDDPM_SMALL, 8);
    // The first conv reads both the noise and seeded weights; the output of a fresh UNet is zero by design.
    const probeOnce = async (seed: number) => {
      const s = new RuntimeSession();
      s.setWeights({ kind: 'random', seed });
      load(s, g);
      const p = await s.probe('input_blocks.0.0', { ...INPUTS, noiseSeed: seed });
      const v = (await p.out.data()) as Float32Array;
      p.out.dispose();
      s.dispose();
      return fingerprint(v);
    };
    const [a, b, c] = [await probeOnce(0), await probeOnce(0), await probeOnce(1)];
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    // Sampling noise too: 2 steps from seed 0, twice.
    const sampleOnce = async (seed: number) => {
      const s = new RuntimeSession();
      load(s, g);
      const out = await s.sample({ schedule: 'linear', trainSteps: 1000, steps: 2, seed, label: 0, batch: 1, learnedSigma: false });
      const v = fingerprint((await out!.data()) as Float32Array);
      out!.dispose();
      s.dispose();
      return v;
    };
    expect(await sampleOnce(0)).toBe(await sampleOnce(0));
    expect(await sampleOnce(0)).not.toBe(await sampleOnce(1));
  });

  it('holds the weights once (the model and the interpreter share them), makes them on demand, and a cancel leaves nothing', async () => {
    const g = iddpm(IDDPM_SMALL, 8);
    const count = expectedWeights(analyze(g)).length;
    // tf.memory().numBytes counts every tensor handle (a data-sharing clone too); numDataBuffers counts the data.
    const buffers = () => tf.memory().numDataBuffers;
    const base = { buffers: buffers(), tensors: tf.memory().numTensors };
    const s = new RuntimeSession();
    load(s, g);
    expect(s.prepared).toBe(false);
    expect(buffers()).toBe(base.buffers); // a module alone allocates nothing
    // A cancelled preparation frees what it made.
    const stop = new AbortController();
    let calls = 0;
    await expect(s.prepare({ sliceMs: 0, signal: stop.signal, onProgress: () => void (++calls === 3 && stop.abort()) })).rejects.toBeInstanceOf(Cancelled);
    expect(buffers()).toBe(base.buffers);
    const seen: number[] = [];
    await s.prepare({ onProgress: (d, t) => void seen.push(d / t) });
    expect(seen.at(-1)).toBe(1);
    expect(s.prepared).toBe(true);
    expect(buffers() - base.buffers).toBe(count); // one buffer per weight…
    expect(tf.memory().numTensors - base.tensors).toBe(2 * count); // …read by the store and the model's clones
    (await s.run(INPUTS)).out.dispose();
    (await s.probe('middle_block.1', INPUTS)).out.dispose();
    await s.profile(INPUTS);
    expect(buffers() - base.buffers).toBe(count); // still once, after a run, a probe and a profile
    s.dispose();
    expect(buffers()).toBe(base.buffers);
    expect(tf.memory().numTensors).toBe(base.tensors);
  });

  it('fingerprint tells values apart bit for bit', () => {
    expect(fingerprint(new Float32Array([1, 2, 3]))).toBe(fingerprint(new Float32Array([1, 2, 3])));
    expect(fingerprint(new Float32Array([1, 2, 3]))).not.toBe(fingerprint(new Float32Array([1, 2, 3.0000002])));
    expect(fingerprint(new Float32Array([0]))).not.toBe(fingerprint(new Float32Array([-0])));
  });
});

describe('a weights file that is not a .safetensors', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('is refused with the file named, and the weights in use before stay (later modules load fine)', async () => {
    const s = new RuntimeSession();
    const g = iddpm(IDDPM_SMALL, 8);
    load(s, g);
    s.setWeights({ kind: 'random', seed: 4 });
    expect(() => s.setWeights({ kind: 'file', name: 'broken.safetensors', bytes: new Uint8Array([1, 2, 3]) })).toThrow(/broken\.safetensors/);
    expect(s.source).toEqual({ kind: 'random', seed: 4 });
    expect(() => load(s, g)).not.toThrow();
    const r = await s.run(INPUTS);
    expect(r.out.shape).toEqual([1, 8, 8, 3]);
    r.out.dispose();
    s.dispose();
  });
});
