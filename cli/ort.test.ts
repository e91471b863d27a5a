/**
 * `run --backend ort`: the ONNX export run by onnxruntime-node gives the fixtures' PyTorch `out`
 * (iDDPM, and the classic UNet at an even and an odd size), as the tfjs backends do; a missing
 * input and a weights file that does not fit are named.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { parseSafetensors, toFloat32 } from '../weights/safetensors';
import { closeness, FIXTURES } from '../test/util';
import { ORT_MISSING } from './ort';

const dir = mkdtempSync(join(tmpdir(), 'unet-cli-ort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run --backend ort', () => {
  const iddpmGraph = join(dir, 'iddpm.json');
  const vanillaGraph = join(dir, 'vanilla.json');

  it("reproduces the fixtures' out (iddpm-small; vanilla-small even and odd)", async () => {
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', iddpmGraph)).code).toBe(0);
    expect((await cli('template', 'vanilla', '--config', `${FIXTURES}vanilla-small/config.json`, '-o', vanillaGraph)).code).toBe(0);
    const cases: [string, string, string][] = [
      [iddpmGraph, 'iddpm-small', 'io.safetensors'],
      [vanillaGraph, 'vanilla-small', 'io.safetensors'],
      [vanillaGraph, 'vanilla-small', 'io_odd.safetensors'],
    ];
    for (const [graph, fixture, io] of cases) {
      const outFile = join(dir, `${fixture}-${io}-ort.safetensors`);
      const r = await cli('run', graph, '--weights', `${FIXTURES}${fixture}/weights.safetensors`, '--inputs', `${FIXTURES}${fixture}/${io}`, '--backend', 'ort', '--out', outFile);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/out \[\d+, \d+, \d+, \d+\] on ort \(onnxruntime-node, CPU\) in [\d.]+ ms/);
      const got = parseSafetensors(new Uint8Array(readFileSync(outFile)));
      expect(got.metadata.backend).toBe('ort');
      const out = got.tensors.get('out')!;
      const ref = parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}${fixture}/${io}`))).tensors.get('out')!;
      expect(out.shape).toEqual(ref.shape);
      const c = closeness(toFloat32(out), toFloat32(ref), 1e-4, 1e-4);
      expect(c.ok, `${fixture}/${io}: max |d| ${c.maxAbs}`).toBe(true);
    }
  });

  it('names a missing input, a weights file that does not fit, and --via with ort', async () => {
    const out = join(dir, 'bad.safetensors');
    const noT = await cli('run', iddpmGraph, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}vanilla-small/io.safetensors`, '--backend', 'ort', '--out', out);
    expect(noT.code).toBe(1);
    expect(noT.err).toMatch(/the graph needs "timesteps", which the inputs file does not have/);
    noStack(noT.err);
    const wrong = await cli('run', iddpmGraph, '--weights', `${FIXTURES}vanilla-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--backend', 'ort', '--out', out);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/missing keys \(128\)[\s\S]*time_embed\.0\.weight/);
    noStack(wrong.err);
    const via = await cli('run', iddpmGraph, '--weights', 'w', '--inputs', 'i', '--backend', 'ort', '--via', 'codegen', '--out', out);
    expect(via.code).toBe(2);
    expect(via.err).toMatch(/--via is for the tfjs backends/);
    const bad = await cli('run', iddpmGraph, '--weights', 'w', '--inputs', 'i', '--backend', 'tpu', '--out', out);
    expect(bad.err).toMatch(/--backend must be one of cpu, wasm, webgpu, ort, got "tpu"/);
  });

  it('without onnxruntime-node: one clear message naming the package and the command', async () => {
    vi.resetModules();
    vi.doMock('onnxruntime-node', () => {
      throw new Error("Cannot find package 'onnxruntime-node'");
    });
    try {
      const { main } = await import('./main');
      let err = '';
      const code = await main(['run', iddpmGraph, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--backend', 'ort', '--out', join(dir, 'never.safetensors')], { out: () => {}, err: (s) => (err += s) });
      expect(code).toBe(1);
      expect(err).toContain(`unet-studio: ${ORT_MISSING}`);
      expect(ORT_MISSING).toBe('--backend ort needs the onnxruntime-node package: npm install onnxruntime-node');
      noStack(err);
      expect(existsSync(join(dir, 'never.safetensors'))).toBe(false);
    } finally {
      vi.doUnmock('onnxruntime-node');
      vi.resetModules();
    }
  });
});
