/** The CLI end to end: in-process through `main` (fast), and once through `npx unet-studio` itself. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cli, noStack } from './test-helpers';
import { parseSafetensors, toFloat32, writeSafetensors } from '../weights/safetensors';
import { closeness, FIXTURES } from '../test/util';

const dir = mkdtempSync(join(tmpdir(), 'unet-cli-'));


describe('unet-studio CLI', () => {
  const iddpmGraph = join(dir, 'iddpm.json');
  const vanillaGraph = join(dir, 'vanilla.json');

  it('template iddpm + check: the exact parameter count of the PyTorch model', async () => {
    const t = await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', iddpmGraph);
    expect(t.code).toBe(0);
    expect(t.err).toMatch(/wrote .*iddpm\.json: 27 blocks/);
    const c = await cli('check', iddpmGraph);
    expect(c.code).toBe(0);
    expect(c.out).toContain('Total params: 756,163 (756163)');
    expect(c.out).toMatch(/input_blocks\.3\.1\s+Attention\s+64×8×8\s+16,768/);
    expect(c.out).toMatch(/output_blocks\.1\.2\s+Upsample\s+64×16×16\s+36,928/);
    expect(c.out).toContain('OK: the graph is valid');
  });

  it('template vanilla + check: 121,186 parameters (buffers not counted, as in PyTorch)', async () => {
    expect((await cli('template', 'vanilla', '--config', `${FIXTURES}vanilla-small/config.json`, '-o', vanillaGraph)).code).toBe(0);
    const c = await cli('check', vanillaGraph);
    expect(c.code).toBe(0);
    expect(c.out).toContain('Total params: 121,186 (121186)');
    expect(c.out).toMatch(/up1\.up\s+ConvTranspose2d\s+32×8×8/);
  });

  it('template takes bare kwargs and --image-size', async () => {
    const cfg = join(dir, 'bare.json');
    writeFileSync(cfg, JSON.stringify({ in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2], channel_mult: [1, 2, 2], num_heads: 4 }));
    const g = join(dir, 'g64.json');
    expect((await cli('template', 'iddpm', '--config', cfg, '--image-size', '32', '-o', g)).code).toBe(0);
    const c = await cli('check', g);
    expect(c.out).toContain('Total params: 6,472,195');
    expect(c.out).toMatch(/x\s+Image input\s+3×32×32/);
  });

  it('template --list and the usage come from the registry; the empty canvas needs no config', async () => {
    const list = await cli('template', '--list');
    expect(list.code).toBe(0);
    expect(list.out.split('\n').filter((l) => /^\S/.test(l))).toEqual(['iddpm      iDDPM UNetModel', 'vanilla    Classic UNet', 'diffusers  diffusers UNet2DModel', 'ldm        latent-diffusion UNetModel', 'empty      Empty canvas']);
    expect(list.out).toContain('           An image input wired to the output; build from there.\n');
    const help = await cli('help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/\n {2}template iddpm --config FILE \[--image-size N\] \[-o graph\.json\] +iDDPM UNetModel\n/);
    expect(help.out).toMatch(/\n {2}template vanilla --config FILE \[--image-size N\] \[-o graph\.json\] +Classic UNet\n/);
    expect(help.out).toMatch(/\n {2}template empty \[--image-size N\] \[-o graph\.json\] +Empty canvas\n/);
    // The export targets come from their registry too.
    expect(help.out).toMatch(/\nexport targets \(codegen --target ID, export ID; default tfjs\):\n {2}tfjs +TensorFlow\.js: one typed TensorFlow\.js module \(\.ts\), type-checked \(strict\)\n {2}pytorch +PyTorch: /);
    const g = join(dir, 'empty.json');
    expect((await cli('template', 'empty', '--image-size', '24x20', '-o', g)).code).toBe(0);
    const c = await cli('check', g);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/x\s+Image input\s+3×24×20/);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`run on ${backend} reproduces the fixtures' out (iddpm-small; vanilla-small even and odd)`, async () => {
      const cases: [string, string, string][] = [
        [iddpmGraph, 'iddpm-small', 'io.safetensors'],
        [vanillaGraph, 'vanilla-small', 'io.safetensors'],
        [vanillaGraph, 'vanilla-small', 'io_odd.safetensors'],
      ];
      for (const [graph, fixture, io] of cases) {
        const outFile = join(dir, `${fixture}-${io}-${backend}.safetensors`);
        const r = await cli('run', graph, '--weights', `${FIXTURES}${fixture}/weights.safetensors`, '--inputs', `${FIXTURES}${fixture}/${io}`, '--backend', backend, '--out', outFile);
        expect(r.code, r.err).toBe(0);
        const got = parseSafetensors(new Uint8Array(readFileSync(outFile))).tensors.get('out')!;
        const ref = parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}${fixture}/${io}`))).tensors.get('out')!;
        expect(got.shape).toEqual(ref.shape);
        const c = closeness(toFloat32(got), toFloat32(ref), 1e-4, 1e-4);
        expect(c.ok, `${fixture}/${io}: max |d| ${c.maxAbs}`).toBe(true);
      }
    });
  }

  it('check lists every problem and exits 1', async () => {
    const bad = join(dir, 'bad.json');
    const doc = JSON.parse(readFileSync(iddpmGraph, 'utf8'));
    for (const n of doc.graph.nodes) {
      if (n.name === 'input_blocks.1.0') n.params.out_channels = 40;
      if (n.name === 'middle_block.1') n.params.num_heads = 5;
    }
    writeFileSync(bad, JSON.stringify(doc));
    const c = await cli('check', bad);
    expect(c.code).toBe(1);
    // Downstream blocks are still checked with the shapes the faulty ones would give.
    expect(c.err).toMatch(/5 problems:/);
    expect(c.err.match(/^ {2}error: .*$/gm)).toEqual([
      '  error: ResBlock "input_blocks.1.0": 40 output channels are not divisible by 32 groups',
      '  error: ResBlock "input_blocks.3.0": 40 input channels are not divisible by 32 groups',
      '  error: Attention "middle_block.1": 64 channels are not divisible by 5 heads',
      '  error: ResBlock "output_blocks.1.0": 104 input channels are not divisible by 32 groups',
      '  error: ResBlock "output_blocks.2.0": 104 input channels are not divisible by 32 groups',
    ]);
    expect(c.err).toContain('fix: use a multiple of 32 (32 or 64)');
  });

  it('bad input ends with one clear message and a non-zero exit, never a stack trace', async () => {
    const garbage = join(dir, 'garbage.json');
    writeFileSync(garbage, '{"format": "unet-studio-graph", "version": 2, "graph": ');
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, readFileSync(`${FIXTURES}iddpm-small/weights.safetensors`).subarray(0, 5000));
    const noX = join(dir, 'nox.safetensors');
    writeFileSync(noX, writeSafetensors({ timesteps: { dtype: 'I64', shape: [1], data: [5n] } as never }));
    const out = join(dir, 'o.safetensors');
    const cases: [string[], RegExp, number][] = [
      [['check', join(dir, 'missing.json')], /cannot read graph .*missing\.json.*ENOENT/, 1],
      [['check', garbage], /is not valid JSON/, 1],
      [['template', 'iddpm', '--config', garbage], /is not valid JSON/, 2],
      [['template', 'iddpm', '--config', `${FIXTURES}vanilla-small/config.json`], /UNetModel kwargs are invalid:[\s\S]*in_channels/, 1],
      [['template', 'nope'], /say which: "iddpm", "vanilla", "diffusers", "ldm" or "empty" \(got "nope"; template --list describes them\)/, 2],
      [['template', 'iddpm'], /template iddpm: --config FILE is required/, 2],
      [['template', '--list', 'iddpm'], /template --list takes no template/, 2],
      [['run', iddpmGraph, '--weights', truncated, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--out', out], /truncated\.safetensors: /, 1],
      [['run', iddpmGraph, '--weights', `${FIXTURES}vanilla-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--out', out], /does not match the graph:[\s\S]*missing keys \(128\)[\s\S]*time_embed\.0\.weight[\s\S]*unexpected keys \(92\)[\s\S]*inc\.double_conv\.0\.weight/, 1],
      [['run', iddpmGraph, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', noX, '--out', out], /has no tensor "x"/, 1],
      [['run', iddpmGraph, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}vanilla-small/io.safetensors`, '--out', out], /needs "timesteps", which was not given/, 1],
      [['run', iddpmGraph, '--backend', 'tpu', '--weights', 'a', '--inputs', 'b', '--out', out], /--backend must be one of cpu, wasm, webgpu/, 2],
      [['frobnicate'], /unknown command "frobnicate"/, 2],
      [['export', 'nope', iddpmGraph, '-o', out], /export: unknown export target "nope"; the targets are "tfjs", "pytorch", "diffusers" or "onnx" \(unet-studio help lists them\)/, 2],
      [['codegen', iddpmGraph, '--target', 'pytorch2'], /codegen --target: unknown export target "pytorch2"; the targets are "tfjs"/, 2],
    ];
    for (const [argv, re, code] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(code);
      expect(r.err, argv.join(' ')).toMatch(re);
      noStack(r.err);
    }
  });

  it('works as `npx unet-studio` from the repo', () => {
    const out = execFileSync('npx', ['unet-studio', 'check', vanillaGraph], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname });
    expect(out).toContain('Total params: 121,186');
  });
});
