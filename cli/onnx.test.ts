/**
 * `unet-studio export onnx graph.json [--weights W] -o model.onnx` end to end: the iddpm-small
 * fixture's graph file and PyTorch weights give a model that onnxruntime-node runs to the
 * fixture's `out`; hostile names give a valid model; binary output never goes to stdout; a
 * text-conditioned diffusers graph exports with its `context` input and runs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { serializeDocument } from '../graph/document';
import { iddpm, diffusersUNet } from '../graph/templates';
import { DIFFUSERS_DIR } from '../test/diffusers-cases';
import { withTokens } from '../test/cond-cases';
import { toFloat32 } from '../weights/safetensors';
import { closeness, fixtureConfig, FIXTURES, readSafetensors } from '../test/util';

const dir = mkdtempSync(join(tmpdir(), 'unet-onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runOut(path: string, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), { intraOpNumThreads: 1 });
  try {
    return (await s.run(feeds)).out;
  } finally {
    await s.release();
  }
}

describe('export onnx', () => {
  const c = fixtureConfig('iddpm-small');
  const graph = iddpm(c.kwargs, c.imageSize);

  it('iddpm-small with --weights: onnxruntime-node gives the PyTorch reference out', async () => {
    const g = join(dir, 'iddpm.json');
    writeFileSync(g, serializeDocument(graph));
    const model = join(dir, 'iddpm.onnx');
    const r = await cli('export', 'onnx', g, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '-o', model);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^wrote .*iddpm\.onnx: \d+ bytes, checked \(reads back as an opset 17 ModelProto\)\n$/);
    const io = readSafetensors(`${FIXTURES}iddpm-small/io.safetensors`);
    const t = (k: string) => new ort.Tensor('float32', toFloat32(io.tensors.get(k)!), [...io.tensors.get(k)!.shape]);
    const out = await runOut(model, { x: t('x'), timesteps: t('timesteps_f32') });
    const got = closeness(out.data as Float32Array, toFloat32(io.tensors.get('out')!), 1e-4, 1e-4);
    expect(got.ok, JSON.stringify(got)).toBe(true);

    // Without --weights: random PyTorch-default weights, and the note says so.
    const rnd = await cli('export', 'onnx', g, '-o', join(dir, 'random.onnx'));
    expect(rnd.code, rnd.err).toBe(0);
    expect(rnd.err).toMatch(/note: model\.onnx holds random PyTorch-default weights \(seed 0\)/);
    // A binary file never goes to stdout.
    const stdout = await cli('export', 'onnx', g, '-o', '-');
    expect(stdout.code).toBe(2);
    expect(stdout.err).toMatch(/onnx writes a binary file \(model\.onnx\): give -o FILE \(nothing was written\)/);
    expect(stdout.out).toBe('');
  });

  it('hostile node and graph names give a valid model that runs', async () => {
    const hostile = ['"); import os #', "*/ '--", 'line\nbreak', 'x', 'out', '\\u0022', '😀'];
    const nodes = graph.nodes.map((n, i) => (i < hostile.length ? { ...n, name: hostile[i] } : n));
    const g = join(dir, 'hostile.json');
    writeFileSync(g, serializeDocument({ ...graph, name: '"; rm -rf / #', nodes, groups: [] }));
    const model = join(dir, 'hostile.onnx');
    const r = await cli('export', 'onnx', g, '-o', model);
    expect(r.code, r.err).toBe(0);
    const x = new ort.Tensor('float32', new Float32Array(2 * 3 * 16 * 16).fill(0.25), [2, 3, 16, 16]);
    const out = await runOut(model, { x, timesteps: new ort.Tensor('float32', new Float32Array([1, 999]), [2]) });
    expect(out.dims).toEqual([2, 3, 16, 16]);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('a UNet2DConditionModel graph (diffusers blocks, transformers) exports with a context input and runs', async () => {
    const cfg = (JSON.parse(readFileSync(`${DIFFUSERS_DIR}cond-conv.json`, 'utf8')) as { config: unknown; image_size: number });
    const g = join(dir, 'cond.json');
    writeFileSync(g, serializeDocument(withTokens(diffusersUNet(cfg.config, cfg.image_size), 8)));
    const model = join(dir, 'cond.onnx');
    const r = await cli('export', 'onnx', g, '-o', model);
    expect(r.code, r.err).toBe(0);
    noStack(r.err);
    expect(existsSync(model)).toBe(true);
    const out = await runOut(model, {
      x: new ort.Tensor('float32', new Float32Array(2 * 4 * 8 * 8).fill(0.25), [2, 4, 8, 8]),
      timesteps: new ort.Tensor('float32', new Float32Array([1, 999]), [2]),
      context: new ort.Tensor('float32', Float32Array.from({ length: 2 * 8 * 24 }, (_, i) => Math.cos(i)), [2, 8, 24]),
    });
    expect(out.dims).toEqual([2, 4, 8, 8]);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });
});
