/**
 * `unet-studio sample` on ONNX Runtime: the same images as the tfjs wasm backend (DDPM, DDIM with
 * noise, classifier-free guidance, learned sigma) for tiny models and a few steps; the default is
 * the fastest backend and says which it used; what the ONNX Runtime path cannot take falls back or
 * is refused by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';
import { serializeDocument } from '../graph/document';
import { readSafetensorsFile } from '../runtime/safetensors-file';
import { writeSafetensors } from '../weights/safetensors';
import { closeness, FIXTURES } from '../test/util';

const LABELLED = iddpm({ ...IDDPM_SMALL, num_res_blocks: 1, attention_resolutions: [2], channel_mult: [1, 2], num_classes: 10 }, 8);
const SIGMA = iddpm({ ...IDDPM_SMALL, out_channels: 6, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1], }, 8);
let dir = '';
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'unet-sample-ort-'));
  writeFileSync(p('labelled.json'), serializeDocument(LABELLED));
  writeFileSync(p('sigma.json'), serializeDocument(SIGMA));
  writeFileSync(p('u.safetensors'), writeSafetensors({ class_labels: { dtype: 'I64', shape: [1], data: BigInt64Array.from([BigInt(9)]) } }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sampled(graph: string, backend: string, extra: string[]): Promise<{ data: Float32Array; shape: readonly number[]; err: string }> {
  const out = p(`${graph}-${backend}-${extra.join('_')}.safetensors`);
  const r = await cli('sample', p(graph), '--backend', backend, '--out', out, ...extra);
  expect(r.code, r.err).toBe(0);
  const t = readSafetensorsFile(out).tensors.get('out')!;
  return { data: t.data as Float32Array, shape: t.shape, err: r.err };
}

describe('unet-studio sample --backend ort', () => {
  const cases: [string, string[]][] = [
    ['labelled.json', ['--seed', '3', '--steps', '4', '--batch', '2', '--label', '4']],
    ['labelled.json', ['--seed', '5', '--sampler', 'ddim', '--eta', '0.5', '--steps', '3', '--batch', '2', '--label', '1', '--guidance', '3', '--null-label', '9']],
    ['sigma.json', ['--seed', '7', '--steps', '3']],
  ];
  for (const [graph, extra] of cases) {
    it(`the same images as wasm: ${graph} ${extra.join(' ')}`, async () => {
      const ort = await sampled(graph, 'ort', extra);
      const wasm = await sampled(graph, 'wasm', extra);
      expect(ort.err).toMatch(/^backend: ort \(onnxruntime-node, CPU, as asked\)\n/);
      expect(ort.err).toMatch(/\) on ort in [\d.]+ s/);
      expect(ort.shape).toEqual(wasm.shape);
      const c = closeness(ort.data, wasm.data, 1e-4, 1e-4);
      expect(c.ok, `max |d| ${c.maxAbs}`).toBe(true);
      // Not a constant (or fully clipped) image.
      expect(new Set(Array.from(ort.data, (v) => v.toFixed(3))).size).toBeGreaterThan(20);
    });
  }

  it('by default: ort when it loads (printed), with the weights file checked by name', async () => {
    const r = await cli('sample', p('labelled.json'), '--steps', '2', '--out', p('default.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^backend: ort \(onnxruntime-node, CPU: the fastest available\)\n/);
    expect(readSafetensorsFile(p('default.safetensors')).metadata.backend).toBe('ort');
    const wrong = await cli('sample', p('labelled.json'), '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--steps', '2', '--out', p('wrong.safetensors'));
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/iddpm-small\/weights\.safetensors[\s\S]*label_emb\.weight/);
    noStack(wrong.err);
  });

  it('conditioning files: the default falls back to wasm and says why; --backend ort refuses', async () => {
    const r = await cli('sample', p('labelled.json'), '--steps', '2', '--guidance', '2', '--uncond', p('u.safetensors'), '--out', p('files.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^backend: wasm \(the ONNX Runtime path takes no --cond\/--uncond files yet\)\n/);
    const refused = await cli('sample', p('labelled.json'), '--backend', 'ort', '--steps', '2', '--guidance', '2', '--uncond', p('u.safetensors'), '--out', p('refused.safetensors'));
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--backend ort: the ONNX Runtime path takes no --cond\/--uncond files yet; use --backend wasm/);
    const bad = await cli('sample', p('labelled.json'), '--backend', 'tpu', '--out', p('bad.safetensors'));
    expect(bad.err).toMatch(/--backend must be one of ort, cpu, wasm, webgpu, got "tpu"/);
  });
});
