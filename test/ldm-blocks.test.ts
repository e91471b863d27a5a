/**
 * SpatialTransformer / Transformer2DModel against the real code (test/reference/ldm, made by
 * make_blocks.py from CompVis/stable-diffusion's, Stability-AI/stablediffusion's and diffusers'
 * own sources under Debian's PyTorch): the interpreter and the generated tfjs module on cpu and
 * wasm, and the PyTorch export under Debian's torch, all within 1e-4 + 1e-4·|ref|; the exact erf
 * GELU; no tensor leaks; clear shape problems.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { geluErf } from '../blocks/defs/transformer';
import { analyze } from '../graph/analyze';
import { GraphBuilder } from '../graph/builder';
import { expectedWeights } from '../graph/weights';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { generatePytorchModel } from '../codegen/targets/pytorch/model';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { useBackend, type NodeBackend } from '../runtime/backend-node';
import { loadModule } from '../runtime/evaluate';
import { toFloat32, writeSafetensors } from '../weights/safetensors';
import { closeness, nhwcToNchw } from './util';
import { blockCaseFile, blockCaseGraph, blockCasePath, blockCaseWeights, BLOCK_NODE, TRANSFORMER_BLOCK_CASES } from './cond-cases';
import { caseInputs } from './diffusers-cases';

const CASES = TRANSFORMER_BLOCK_CASES;
const NODE = BLOCK_NODE;

function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  const r = closeness(got, ref, 1e-4, 1e-4);
  expect(r.ok, `${what}: max |d| ${r.maxAbs.toExponential(2)}, ${r.worst.toFixed(2)}× tolerance`).toBe(true);
  expect(Math.max(...Array.from(ref, Math.abs)), `${what}: the reference has a real signal`).toBeGreaterThan(1);
}

it('the reference cases cover both block types, the three sources, use_linear, depth 2 and inner ≠ C', () => {
  expect(CASES.map((c) => c.name)).toEqual(['ldm-basic', 'ldm-inner', 'sd2-linear', 'df-transformer2d', 'df-transformer2d-conv']);
  expect(new Set(CASES.map((c) => c.block))).toEqual(new Set(['SpatialTransformer', 'Transformer2DModel']));
});

describe.each(CASES)('$name ($reference)', (c) => {
  it('declares exactly the real state_dict: keys in order, shapes', () => {
    const graph = blockCaseGraph(c);
    const a = analyze(graph);
    expect(a.ok, a.problems.map((p) => p.message).join('\n')).toBe(true);
    const file = blockCaseFile(c);
    const ws = expectedWeights(a);
    expect(ws.map((w) => w.fullKey)).toEqual(c.state_dict_keys.map((k) => `${NODE}.${k}`));
    for (const w of ws) expect(w.shape, w.fullKey).toEqual(file.tensors.get(w.fullKey.slice(NODE.length + 1))!.shape);
  });

  for (const backend of ['cpu', 'wasm'] as const satisfies readonly NodeBackend[]) {
    it(`interpreter and generated tfjs module match the real output on ${backend}, leaking nothing`, async () => {
      await useBackend(backend);
      const graph = blockCaseGraph(c);
      const file = blockCaseFile(c);
      const ref = toFloat32(file.tensors.get('io.out')!);
      const plan = planGraph(graph);
      const start = tf.memory().numTensors;
      const weights = loadWeights(plan, blockCaseWeights(file), c.name);
      const inputs = caseInputs(file);
      const x = inputs.x!;
      const context = inputs.context!;
      const afterLoad = tf.memory().numTensors;
      for (let run = 0; run < 2; run++) {
        const { out } = runGraph(plan, weights, { x, context });
        const nchw = nhwcToNchw(out);
        expect(nchw.shape).toEqual([...c.x]);
        expectClose(await nchw.data(), ref, `${c.name} interpreter on ${backend}`);
        tf.dispose([out, nchw]);
        expect(tf.memory().numTensors).toBe(afterLoad);
      }

      const mod = generateModule(graph, readSources());
      expect(mod.inputs).toEqual(['x', 'context']);
      const Model = loadModule(mod.text, mod.className);
      const bytes = writeSafetensors(Object.fromEntries([...blockCaseWeights(file).tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: toFloat32(t) }])));
      const model = Model.fromSafetensors(bytes, c.name);
      const before = tf.memory().numTensors;
      for (let run = 0; run < 2; run++) {
        const out = model.forward(x, context);
        const nchw = nhwcToNchw(out);
        expectClose(await nchw.data(), ref, `${c.name} generated module on ${backend}`);
        tf.dispose([out, nchw]);
        expect(tf.memory().numTensors).toBe(before);
      }
      model.dispose();
      tf.dispose([x, context]);
      disposeWeights(weights);
      expect(tf.memory().numTensors).toBe(start);
    }, 60_000);
  }
});

describe('exact erf GELU', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('is 0.5·x·(1 + erf(x/√2)), not the tanh approximation, where the two differ', () => {
    // Values of PyTorch's F.gelu (approximate="none") and F.gelu(approximate="tanh"), torch 1.13, float64.
    const xs = [-3, -2, -1.5, -1, 0, 0.5, 1, 2, 3];
    const exact = [-0.0040496941, -0.0455002639, -0.1002108019, -0.1586552539, 0, 0.3457312306, 0.8413447461, 1.9544997361, 2.9959503059];
    const tanh = [-0.0036373921, -0.0454023059, -0.100428423, -0.1588080094, 0, 0.3457140098, 0.8411919906, 1.9545976941, 2.9963626079];
    const got = tf.tidy(() => geluErf(tf.tensor1d(xs)).dataSync());
    for (let i = 0; i < xs.length; i++) expect(Math.abs(got[i] - exact[i]), `x = ${xs[i]}`).toBeLessThan(2e-6);
    // At x = -3 the approximation is off by 4e-4: a kernel using it would fail here.
    expect(Math.abs(got[0] - tanh[0])).toBeGreaterThan(3e-4);
    expect(Math.abs(got[8] - tanh[8])).toBeGreaterThan(3e-4);
  });
});

describe('shape problems', () => {
  it('a transformer without a context says what to connect', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 64, height: 4, width: 4 });
    const st = b.add('SpatialTransformer', 'input_blocks.1.1', { n_heads: 2, d_head: 32 }, { x });
    b.add('Output', 'out', {}, { x: st });
    const a = analyze(b.build('no context'));
    expect(a.ok).toBe(false);
    const msgs = a.problems.map((p) => `${p.message} | ${p.fix}`);
    expect(msgs).toContainEqual(expect.stringMatching(/^Spatial transformer "input_blocks\.1\.1": input "context" \(context \(tokens × dim\)\) is not connected \| connect a context \(tokens × dim\) to "context"$/));
  });

  it('channels not divisible by 32 are refused with the fix', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 48, height: 4, width: 4 });
    const ctx = b.add('ContextInput', 'context', { tokens: 4, dim: 8 });
    const st = b.add('Transformer2DModel', 'mid_block.attentions.0', { num_attention_heads: 2, attention_head_dim: 8 }, { x, context: ctx });
    b.add('Output', 'out', {}, { x: st });
    const a = analyze(b.build('48 channels'));
    const errors = a.problems.filter((p) => p.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toBe('Transformer2DModel (diffusers) "mid_block.attentions.0": 48 channels are not divisible by 32 groups (its GroupNorm "norm" uses 32 groups)');
    expect(errors[0].fix).toBe('use a multiple of 32 (32 or 64) channels for x');
  });
});

describe('the PyTorch export runs the same graphs under Debian torch', () => {
  const PY = '/usr/bin/python3';
  const HARNESS = fileURLToPath(new URL('./pytorch/harness.py', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ldm-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('model.py has the real state_dict (keys in order), loads it strictly and computes the real output', () => {
    const jobs = CASES.map((c) => {
      const graph = blockCaseGraph(c);
      const path = join(dir, `${c.name}.py`);
      writeFileSync(path, generatePytorchModel(graph).text);
      const file = blockCaseFile(c);
      const weights = join(dir, `${c.name}.safetensors`);
      writeFileSync(weights, writeSafetensors(Object.fromEntries([...blockCaseWeights(file).tensors].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: toFloat32(t) }]))));
      return {
        id: c.name,
        model: path,
        expected_keys: c.state_dict_keys.map((k) => `${NODE}.${k}`),
        ordered: true,
        weights,
        io: blockCasePath(c),
        inputs: { x: 'io.x', context: 'io.context' },
        out: 'io.out',
        atol: 1e-4,
        rtol: 1e-4,
      };
    });
    writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
    const all = (JSON.parse(execFileSync(PY, [HARNESS, join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { results: Record<string, unknown>[] }).results;
    expect(all[all.length - 1]).toEqual({ id: '__pwned', pwned: false });
    const results = all.slice(0, -1);
    expect(results.map((r) => r.id)).toEqual(CASES.map((c) => c.name));
    for (const r of results) {
      expect(r.error, String(r.id)).toBeUndefined();
      expect(r.keys_equal, `${String(r.id)}: ${JSON.stringify(r.keys_diff)}`).toBe(true);
      expect(r.parameter_count_ok, String(r.id)).toBe(true);
      expect(r.shape_equal, String(r.id)).toBe(true);
      expect(r.worst as number, `${String(r.id)}: max |d| ${String(r.max_abs)}`).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});
