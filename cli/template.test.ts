/**
 * `template ldm` from the CLI: the presets (`--preset sd1`), a yaml's unet_config as JSON, the preset
 * errors; and `run` with a whole Stable Diffusion-style checkpoint (prefix stripped, other parts
 * ignored with a note) reproducing the real latent-diffusion output.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './test-helpers';
import { parseSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { closeness, REFERENCE } from '../test/util';

const dir = mkdtempSync(join(tmpdir(), 'unet-cli-ldm-'));

describe('template ldm', () => {
  it('--preset sd1 gives the 859,520,964-parameter SD 1.x UNet on 64×64 latents with a 77×768 context', async () => {
    const g = join(dir, 'sd1.json');
    const t = await cli('template', 'ldm', '--preset', 'sd1', '-o', g);
    expect(t.code).toBe(0);
    expect(t.err).toMatch(/wrote .*sd1\.json: 66 blocks/);
    const c = await cli('check', g);
    expect(c.code).toBe(0);
    expect(c.out).toContain('Total params: 859,520,964 (859520964)');
    expect(c.out).toMatch(/context\s+Context input\s+77×768\s/);
  });

  it("--config takes a yaml's unet_config as JSON ({target, params}); --image-size overrides the preset's", async () => {
    const cfg = join(dir, 'unet.json');
    const params = JSON.parse(readFileSync(`${REFERENCE}ldm/sd2-keys.json`, 'utf8')).unet_config_params as unknown;
    writeFileSync(cfg, JSON.stringify({ target: 'ldm.modules.diffusionmodules.openaimodel.UNetModel', params }));
    const g = join(dir, 'sd2.json');
    expect((await cli('template', 'ldm', '--config', cfg, '--image-size', '96', '-o', g)).code).toBe(0);
    const c = await cli('check', g);
    expect(c.out).toContain('Total params: 865,910,724 (865910724)');
    expect(c.out).toMatch(/x\s+Image input\s+4×96×96/);
    expect(c.out).toMatch(/context\s+Context input\s+77×1024\s/);
  });

  it('preset mistakes are usage errors naming the presets', async () => {
    const r = await cli('template', 'ldm', '--preset', 'sd3');
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/template ldm: no preset "sd3" \(its presets: "sd1" or "sd2"\)/)]);
    const both = await cli('template', 'ldm', '--preset', 'sd1', '--config', 'x.json');
    expect([both.code, both.err]).toEqual([2, expect.stringMatching(/give --config or --preset, not both/)]);
    const none = await cli('template', 'ldm');
    expect(none.err).toMatch(/template ldm: --config FILE is required \(.*\) or --preset NAME \("sd1" or "sd2"\)/);
    const list = await cli('template', '--list');
    expect(list.out).toContain('           presets (--preset NAME): sd1, sd2\n');
  });
});

describe('run with a whole checkpoint', () => {
  it('model.diffusion_model.* loads as the UNet, the VAE / text encoder / EMA are ignored with a note, and the output is the real code\'s', async () => {
    const name = 'ldm-classcond-attn';
    const meta = JSON.parse(readFileSync(`${REFERENCE}ldm/${name}.json`, 'utf8')) as { kwargs: object; image_size: number };
    const ref = parseSafetensors(new Uint8Array(readFileSync(`${REFERENCE}ldm/${name}.safetensors`)));
    const ckpt: Record<string, TensorToWrite> = {
      'first_stage_model.decoder.conv_out.weight': { dtype: 'F32', shape: [3, 128, 3, 3], data: new Float32Array(3 * 128 * 9) },
      'cond_stage_model.transformer.text_model.final_layer_norm.bias': { dtype: 'F32', shape: [768], data: new Float32Array(768) },
      'model_ema.num_updates': { dtype: 'I64', shape: [], data: [7] },
    };
    const inputs: Record<string, TensorToWrite> = {};
    for (const [k, t] of ref.tensors) {
      const entry: TensorToWrite = t.dtype === 'I64' ? { dtype: 'I64', shape: t.shape, data: Array.from(toFloat32(t)) } : { dtype: 'F32', shape: t.shape, data: toFloat32(t) };
      if (k.startsWith('io.')) {
        if (k !== 'io.out') inputs[k.slice(3)] = entry;
      } else ckpt[`model.diffusion_model.${k}`] = entry;
    }
    const ckptPath = join(dir, 'model.safetensors');
    const ioPath = join(dir, 'io.safetensors');
    writeFileSync(ckptPath, writeSafetensors(ckpt));
    writeFileSync(ioPath, writeSafetensors(inputs));
    const cfg = join(dir, 'classcond.json');
    writeFileSync(cfg, JSON.stringify({ kwargs: meta.kwargs, image_size: meta.image_size }));
    const g = join(dir, 'classcond-graph.json');
    expect((await cli('template', 'ldm', '--config', cfg, '-o', g)).code).toBe(0);
    const out = join(dir, 'out.safetensors');
    const r = await cli('run', g, '--weights', ckptPath, '--inputs', ioPath, '--backend', 'cpu', '--out', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${ckptPath}: a whole checkpoint: the UNet was read from under "model.diffusion_model." (${ref.tensors.size - 4} tensors); 3 tensors of its other parts ignored (cond_stage_model. 1, first_stage_model. 1, model_ema. 1)`);
    const got = parseSafetensors(new Uint8Array(readFileSync(out))).tensors.get('out')!;
    const want = ref.tensors.get('io.out')!;
    expect(got.shape).toEqual(want.shape);
    expect(closeness(toFloat32(got), toFloat32(want), 1e-4, 1e-4).ok).toBe(true);
  }, 60_000);
});
