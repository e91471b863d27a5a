/**
 * `unet-studio export onnx graph.json [--weights W] -o model.onnx` end to end: the iddpm-small
 * fixture's graph file and PyTorch weights give a model that onnxruntime-node runs to the
 * fixture's `out`; hostile names give a valid model; binary output never goes to stdout; a
 * text-conditioned diffusers graph exports with its `context` input and runs. External data
 * (`--external-data`, and by itself over a threshold): model.onnx + model.onnx.data that
 * onnxruntime-node opens by path and runs to the single file's exact output; the data file holds
 * each checkpoint tensor at the aligned offset and length the model names.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { exportOnnxFile } from './codegen';
import { decodeModel } from '../codegen/targets/onnx/onnx-proto';
import { serializeDocument } from '../graph/document';
import { iddpm, diffusersUNet } from '../graph/templates';
import { DIFFUSERS_DIR } from '../test/diffusers-cases';
import { withTokens } from '../test/cond-cases';
import { toFloat32 } from '../weights/safetensors';
import { closeness, fixtureConfig, FIXTURES, readSafetensors } from '../test/util';

const dir = mkdtempSync(join(tmpdir(), 'unet-onnx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a model; `byPath` opens it from its path, so ONNX Runtime finds external data beside it. */
async function runOut(path: string, feeds: Record<string, ort.Tensor>, byPath = false): Promise<ort.Tensor> {
  const s = byPath ? await ort.InferenceSession.create(path, { intraOpNumThreads: 1 }) : await ort.InferenceSession.create(new Uint8Array(readFileSync(path)), { intraOpNumThreads: 1 });
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

  describe('external data', () => {
    const g = join(dir, 'ext.json');
    const weightsPath = `${FIXTURES}iddpm-small/weights.safetensors`;
    const io = readSafetensors(`${FIXTURES}iddpm-small/io.safetensors`);
    const t = (k: string) => new ort.Tensor('float32', toFloat32(io.tensors.get(k)!), [...io.tensors.get(k)!.shape]);
    const feeds = () => ({ x: t('x'), timesteps: t('timesteps_f32') });
    interface Init { name: string; dims: number[]; rawData?: number[]; dataLocation?: number; externalData?: { key: string; value: string }[] }
    const initializers = (path: string) => ((decodeModel(new Uint8Array(readFileSync(path))).graph as { initializer: Init[] }).initializer);

    it('--external-data: model.onnx + model.onnx.data run in onnxruntime-node (opened by path) bit-equal to the single file; each tensor at its aligned offset', async () => {
      writeFileSync(g, serializeDocument(graph));
      const single = join(dir, 'single.onnx');
      expect((await cli('export', 'onnx', g, '--weights', weightsPath, '-o', single)).code).toBe(0);
      expect(existsSync(`${single}.data`)).toBe(false);
      const model = join(dir, 'ext.onnx');
      const r = await cli('export', 'onnx', g, '--weights', weightsPath, '-o', model, '--external-data');
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/^wrote .*ext\.onnx\.data: \d+ bytes, \d+ initializers as ONNX external data \(offsets aligned to 4096\)\nwrote .*ext\.onnx: \d+ bytes, checked \(reads back as an opset 17 ModelProto\)\n$/);

      // The model is small: no weights inside it; every initializer points into ext.onnx.data.
      const data = new Uint8Array(readFileSync(`${model}.data`));
      const ckpt = readSafetensors(weightsPath);
      const inits = initializers(model);
      const inline = new Map(initializers(single).map((i) => [i.name, i]));
      expect(inits.length).toBe(inline.size);
      expect(inits.length).toBeGreaterThan(20);
      let end = 0;
      const spans: [number, number][] = [];
      for (const init of inits) {
        expect(init.dataLocation, init.name).toBe(1); // TensorProto.EXTERNAL
        expect(init.rawData, init.name).toBeUndefined();
        const kv = Object.fromEntries(init.externalData!.map((e) => [e.key, e.value]));
        expect(Object.keys(kv).sort()).toEqual(['length', 'location', 'offset']);
        expect(kv.location).toBe('ext.onnx.data');
        const offset = Number(kv.offset);
        const length = Number(kv.length);
        expect(offset % 4096, init.name).toBe(0);
        // The checkpoint's own tensor (read by the tests' reader), little-endian float32.
        const want = ckpt.tensors.get(init.name)!;
        expect(init.dims).toEqual([...want.shape]);
        const f = toFloat32(want);
        expect(length).toBe(f.length * 4);
        expect(Buffer.compare(data.subarray(offset, offset + length), new Uint8Array(f.buffer, f.byteOffset, f.byteLength)), init.name).toBe(0);
        // …and the same bytes the single file holds inline.
        expect(Buffer.compare(data.subarray(offset, offset + length), Uint8Array.from(inline.get(init.name)!.rawData!)), init.name).toBe(0);
        spans.push([offset, offset + length]);
        end = Math.max(end, offset + length);
      }
      // No overlaps; padding between tensors is zeros; the file ends with the last tensor.
      spans.sort((p, q) => p[0] - q[0]);
      for (let i = 1; i < spans.length; i++) {
        expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
        expect(data.subarray(spans[i - 1][1], spans[i][0]).every((b) => b === 0)).toBe(true);
      }
      expect(data.length).toBe(end);
      // The weights left the model: it is the single file less their bytes, plus ~100 bytes of location/offset/length each.
      const weightBytes = spans.reduce((n, [p, q]) => n + q - p, 0);
      expect(weightBytes).toBeGreaterThan(100_000);
      expect(readFileSync(model).length).toBeLessThan(readFileSync(single).length - weightBytes + 100 * inits.length);

      const a = await runOut(single, feeds());
      const b = await runOut(model, feeds(), true);
      expect(b.dims).toEqual(a.dims);
      expect(Buffer.compare(Buffer.from((b.data as Float32Array).buffer), Buffer.from((a.data as Float32Array).buffer))).toBe(0);
      // Which is the PyTorch reference output within the tolerance.
      const got = closeness(b.data as Float32Array, toFloat32(io.tensors.get('out')!), 1e-4, 1e-4);
      expect(got.ok, JSON.stringify(got)).toBe(true);
    });

    it('goes external by itself above the threshold and says so; random weights match the single file exactly', async () => {
      writeFileSync(g, serializeDocument(graph));
      const single = join(dir, 'rnd-single.onnx');
      expect((await cli('export', 'onnx', g, '-o', single)).code).toBe(0);
      const model = join(dir, 'auto.onnx');
      let err = '';
      const code = await exportOnnxFile(g, model, true, { out: () => {}, err: (s) => (err += s) }, undefined, { externalData: 'auto', externalAbove: 4096 });
      expect(code, err).toBe(0);
      expect(err).toMatch(/wrote .*auto\.onnx\.data: \d+ bytes/);
      expect(err).toMatch(/note: the weights \(0\.00 GiB\) are over what one ONNX file holds \(protobuf's 2 GiB\), so they went to .*auto\.onnx\.data as external data; keep it beside .*auto\.onnx/);
      expect(initializers(model).every((i) => i.dataLocation === 1)).toBe(true);
      const a = await runOut(single, feeds());
      const b = await runOut(model, feeds(), true);
      expect(Buffer.compare(Buffer.from((b.data as Float32Array).buffer), Buffer.from((a.data as Float32Array).buffer))).toBe(0);

      // Under the threshold: one file, no data file, no note.
      err = '';
      const small = join(dir, 'small.onnx');
      expect(await exportOnnxFile(g, small, true, { out: () => {}, err: (s) => (err += s) }, undefined, { externalData: 'auto', externalAbove: 2 ** 30 })).toBe(0);
      expect(existsSync(`${small}.data`)).toBe(false);
      expect(err).not.toMatch(/external data/);
      expect(Buffer.compare(readFileSync(small), readFileSync(single))).toBe(0);
    });

    it('--external-data is refused for other targets and with -o -', async () => {
      writeFileSync(g, serializeDocument(graph));
      const r = await cli('export', 'pytorch', g, '-o', join(dir, 'py'), '--external-data');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/export pytorch: --external-data is only for export onnx/);
      const s = await cli('export', 'onnx', g, '-o', '-', '--external-data');
      expect(s.code).toBe(2);
      expect(s.err).toMatch(/onnx writes a binary file \(model\.onnx\): give -o FILE \(nothing was written\)/);
      expect(s.out).toBe('');
    });
  });
});
