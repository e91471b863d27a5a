/**
 * `unet-studio convert`: an improved-diffusion checkpoint (the shared fixture, the real UNetModel's
 * weights and output) becomes a diffusers UNet2DModel folder through `convert --to diffusers` and
 * `export diffusers`, runs with the real code's output through `run`, and converts back to the same
 * tensors; a graph with blocks diffusers lacks is refused by name with nothing written.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffusersUNet2D, iddpm } from '../graph/templates';
import { serializeDocument } from '../graph/document';
import { toFloat32, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { closeness, FIXTURES, fixtureConfig, readSafetensors, REFERENCE } from '../test/util';
import { cli, noStack } from './test-helpers';

const dir = mkdtempSync(join(tmpdir(), 'unet-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (f: string) => join(dir, f);

describe('convert', () => {
  it('improved-diffusion checkpoint → diffusers names → export diffusers → run: the real UNetModel\'s output; and back: the same tensors', async () => {
    const cfg = fixtureConfig('iddpm-small');
    writeFileSync(at('openai.json'), serializeDocument(iddpm(cfg.kwargs, cfg.imageSize)));
    const w = `${FIXTURES}iddpm-small/weights.safetensors`;
    let r = await cli('convert', at('openai.json'), '--to', 'diffusers', '-o', at('df.json'), '--weights', w, '--weights-out', at('df.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/from OpenAI's UNetModel .* to diffusers' UNet2DModel names: \d+ blocks renamed, 144 weights written/);
    expect(readSafetensors(at('df.safetensors')).tensors.has('down_blocks.1.attentions.0.to_q.weight')).toBe(true);

    r = await cli('export', 'diffusers', at('df.json'), '--weights', at('df.safetensors'), '-o', at('folder'));
    expect(r.code, r.err).toBe(0);
    const config = JSON.parse(readFileSync(at('folder/config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ _class_name: 'UNet2DModel', block_out_channels: [32, 64], attention_head_dim: 32, layers_per_block: 1, flip_sin_to_cos: true, freq_shift: 0, norm_eps: 1e-5, resnet_time_scale_shift: 'scale_shift', attn_norm_num_groups: 32 });

    // export diffusers straight from the OpenAI graph converts on the way: the same files, byte for byte.
    r = await cli('export', 'diffusers', at('openai.json'), '--weights', w, '-o', at('direct'));
    expect(r.code, r.err).toBe(0);
    for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) expect(readFileSync(at(`direct/${f}`)).equals(readFileSync(at(`folder/${f}`))), f).toBe(true);

    // The exported folder's weights under the exported config, on the fixture's input.
    const io = readSafetensors(`${FIXTURES}iddpm-small/io.safetensors`);
    const inputs: Record<string, TensorToWrite> = {};
    for (const k of ['x', 'timesteps']) {
      const t = io.tensors.get(k)!;
      inputs[k] = { dtype: t.dtype, shape: t.shape, data: t.data } as TensorToWrite;
    }
    writeFileSync(at('in.safetensors'), writeSafetensors(inputs));
    r = await cli('template', 'diffusers', '--config', at('folder/config.json'), '-o', at('from-config.json'));
    expect(r.code, r.err).toBe(0);
    r = await cli('run', at('from-config.json'), '--weights', at('folder/diffusion_pytorch_model.safetensors'), '--inputs', at('in.safetensors'), '--out', at('out.safetensors'));
    expect(r.code, r.err).toBe(0);
    const c = closeness(toFloat32(readSafetensors(at('out.safetensors')).tensors.get('out')!), toFloat32(io.tensors.get('out')!), 1e-4, 1e-4);
    expect(c.ok, `max |d| ${c.maxAbs}`).toBe(true);

    r = await cli('convert', at('df.json'), '--to', 'openai', '-o', at('back.json'), '--weights', at('df.safetensors'), '--weights-out', at('back.safetensors'));
    expect(r.code, r.err).toBe(0);
    const back = readSafetensors(at('back.safetensors')).tensors;
    const orig = readSafetensors(w).tensors;
    expect([...back.keys()].sort()).toEqual([...orig.keys()].sort());
    for (const [k, t] of orig) expect(Array.from(back.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
  }, 120_000);

  it('a DDPM checkpoint\'s graph to OpenAI names: refused, every block named, nothing written', async () => {
    const meta = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-ddpm.json`, 'utf8')) as { config: unknown };
    writeFileSync(at('ddpm.json'), serializeDocument(diffusersUNet2D(meta.config)));
    const r = await cli('convert', at('ddpm.json'), '--to', 'openai', '-o', at('ddpm-openai.json'));
    noStack(r.err);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^unet-studio: graph "diffusers-unet2d-32ch-16x16" cannot be converted to OpenAI's UNetModel .*14 blocks have no counterpart/);
    expect(r.err).toMatch(/\n  Timesteps \(diffusers\) "time_proj": no counterpart in OpenAI's timestep_embedding: flip_sin_to_cos false/);
    expect(existsSync(at('ddpm-openai.json'))).toBe(false);
  });

  it('usage: --to is one of the two namings; --weights needs --weights-out', async () => {
    writeFileSync(at('u.json'), serializeDocument(iddpm(fixtureConfig('iddpm-small').kwargs, 16)));
    let r = await cli('convert', at('u.json'), '--to', 'keras', '-o', at('x.json'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--to must be "openai" or "diffusers"/);
    r = await cli('convert', at('u.json'), '--to', 'diffusers', '-o', at('x.json'), '--weights', `${FIXTURES}iddpm-small/weights.safetensors`);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--weights and --weights-out go together/);
    expect(existsSync(at('x.json'))).toBe(false);
  });
});
