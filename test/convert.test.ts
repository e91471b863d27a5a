/**
 * Converting between OpenAI's UNetModel names and diffusers' UNet2DModel names (graph/convert.ts),
 * proved against the real code both ways: OpenAI graphs whose weights and outputs come from the real
 * improved-diffusion and guided-diffusion code (the shared fixture and test/reference/guided-*),
 * converted to diffusers names and run on the diffusers blocks, give the real code's output; the
 * diffusers twin of an iDDPM UNetModel (test/reference/diffusers/df-iddpm, from the real diffusers
 * code), converted to OpenAI names and run on the OpenAI blocks, gives diffusers' output.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { analyze } from '../graph/analyze';
import { ConversionError, convertNaming, convertWeights, namingOf, qkvRows } from '../graph/convert';
import type { Graph } from '../graph/model';
import { diffusersUNet2D, iddpm, vanilla } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { toFloat32, type SafetensorsFile, type SafetensorsTensor } from '../weights/safetensors';
import { closeness, FIXTURES, fixtureConfig, nchwToNhwc, readSafetensors, REFERENCE } from './util';

const weightsOnly = (file: SafetensorsFile): SafetensorsFile => ({ metadata: file.metadata, tensors: new Map([...file.tensors].filter(([k]) => !k.startsWith('io.'))) });

/** The forward on cpu (NCHW out) of `graph` with `weights`, on the inputs `io` holds under `prefix` (`io.x`…). */
async function forward(graph: Graph, weights: ReadonlyMap<string, SafetensorsTensor>, io: SafetensorsFile, prefix: string): Promise<Float32Array> {
  const plan = planGraph(graph);
  const w = loadWeights(plan, { metadata: {}, tensors: weights }, 'converted');
  const xT = io.tensors.get(`${prefix}x`)!;
  const x = tf.tidy(() => nchwToNhwc(tf.tensor(toFloat32(xT), [...xT.shape])));
  const t = tf.tensor1d(toFloat32(io.tensors.get(`${prefix}timesteps`)!));
  const yT = io.tensors.get(`${prefix}y`);
  const y = yT ? tf.tensor1d(toFloat32(yT)) : undefined;
  const { out } = runGraph(plan, w, { x, timesteps: t, ...(y ? { y } : {}) });
  const nchw = tf.transpose(out, [0, 3, 1, 2]);
  const got = (await nchw.data()) as Float32Array;
  tf.dispose([x, t, out, nchw, ...(y ? [y] : [])]);
  disposeWeights(w);
  return got;
}

/** Node name, type, parameters (defaults filled) and inputs by name, in graph order: what makes two graphs the same model with the same names. */
function structure(g: Graph): string[] {
  const a = analyze(g);
  expect(a.ok).toBe(true);
  const byId = new Map(g.nodes.map((n) => [n.id, n.name]));
  return g.nodes.map((n) => {
    const inf = a.info.get(n.id)!;
    const params = Object.entries(inf.params).sort(([x], [y]) => x.localeCompare(y));
    const inputs = Object.entries(inf.inputs).map(([port, v]) => `${port}<-${byId.get(v.from)!}`).sort();
    return `${n.name} ${n.type} ${JSON.stringify(params)} ${inputs.join(',')}`;
  });
}

/** df-iddpm's config as the UNetModel kwargs it is the twin of. */
const TWIN_KWARGS = {
  in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [2], channel_mult: [1, 2],
  num_heads: 2, use_scale_shift_norm: true, num_classes: 4,
};
const dfIddpm = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-iddpm.json`, 'utf8')) as { config: Record<string, unknown>; image_size: number };

describe('naming conversion: the graph', () => {
  it('an iDDPM UNetModel becomes exactly the diffusers template of its twin config (names, blocks, parameters, wiring, state_dict order)', () => {
    const c = convertNaming(iddpm(TWIN_KWARGS, 16), 'diffusers');
    expect([c.from, c.to]).toEqual(['openai', 'diffusers']);
    expect(structure(c.graph)).toEqual(structure(diffusersUNet2D(dfIddpm.config, 16)));
    expect(c.renamed.get('input_blocks.0.0')).toBe('conv_in');
    expect(c.renamed.get('input_blocks.3.1')).toBe('down_blocks.1.attentions.0');
    expect(c.renamed.get('output_blocks.1.2')).toBe('up_blocks.0.upsamplers.0');
    expect(c.renamed.get('middle_block.2')).toBe('mid_block.resnets.1');
    // num_head_channels gives the same heads as num_heads here: attention_head_dim 32 either way.
    expect(structure(convertNaming(iddpm({ ...TWIN_KWARGS, num_heads: 1, num_head_channels: 32 }, 16), 'diffusers').graph)).toEqual(structure(c.graph));
  });

  it('and back: the diffusers twin becomes exactly the iDDPM template', () => {
    const c = convertNaming(diffusersUNet2D(dfIddpm.config, 16), 'openai');
    expect([c.from, c.to]).toEqual(['diffusers', 'openai']);
    expect(structure(c.graph)).toEqual(structure(iddpm(TWIN_KWARGS, 16)));
  });

  it("the converted graph is grouped as its world's template groups it (levels and modules)", () => {
    const groups = (g: Graph) => {
      const name = new Map(g.nodes.map((n) => [n.id, n.name]));
      const gname = new Map((g.groups ?? []).map((x) => [x.id, x.name]));
      return (g.groups ?? []).map((x) => `${x.name} < ${x.parent ? gname.get(x.parent)! : '-'}: ${x.nodes.map((id) => name.get(id)!).join(' ')}`);
    };
    for (const kw of [TWIN_KWARGS, { ...TWIN_KWARGS, num_res_blocks: 2, channel_mult: [1, 2, 2], attention_resolutions: [2, 4] }]) {
      const openai = iddpm(kw, 16);
      const df = convertNaming(openai, 'diffusers').graph;
      expect(groups(df).length).toBeGreaterThan(3);
      expect(groups(df)).toEqual(groups(diffusersUNet2D({ ...dfIddpm.config, block_out_channels: kw.channel_mult.map((m) => 32 * m), layers_per_block: kw.num_res_blocks, down_block_types: kw.channel_mult.map((_, i) => (kw.attention_resolutions.includes(2 ** i) ? 'AttnDownBlock2D' : 'DownBlock2D')), up_block_types: kw.channel_mult.map((_, i) => (kw.attention_resolutions.includes(2 ** (kw.channel_mult.length - 1 - i)) ? 'AttnUpBlock2D' : 'UpBlock2D')) }, 16)));
      expect(groups(convertNaming(df, 'openai').graph)).toEqual(groups(openai));
    }
  });

  it('resblock_updown: the ResBlocks that resample become diffusers\' resnet down/upsamplers', () => {
    const g = iddpm({ ...TWIN_KWARGS, resblock_updown: true, channel_mult: [1, 2, 2] }, 16);
    const c = convertNaming(g, 'diffusers');
    const types = new Map(c.graph.nodes.map((n) => [n.name, `${n.type}:${String(n.params.resample)}`]));
    expect(types.get('down_blocks.0.downsamplers.0')).toBe('ResnetBlock2D:down');
    expect(types.get('down_blocks.1.downsamplers.0')).toBe('ResnetBlock2D:down');
    expect(types.get('up_blocks.1.upsamplers.0')).toBe('ResnetBlock2D:up');
    expect(types.has('down_blocks.2.downsamplers.0')).toBe(false);
    expect(structure(convertNaming(c.graph, 'openai').graph)).toEqual(structure(g));
  });

  it('qkv rows: legacy per head [q k v | q k v], new order [q q | k k | v v]', () => {
    expect(qkvRows(4, 2, false)).toEqual({ q: [{ start: 0, end: 2 }, { start: 6, end: 8 }], k: [{ start: 2, end: 4 }, { start: 8, end: 10 }], v: [{ start: 4, end: 6 }, { start: 10, end: 12 }] });
    expect(qkvRows(4, 2, true)).toEqual({ q: [{ start: 0, end: 4 }], k: [{ start: 4, end: 8 }], v: [{ start: 8, end: 12 }] });
  });
});

describe('naming conversion against the real code', () => {
  const FIXTURE_REL = 1e-4;
  it('improved-diffusion (shared fixture iddpm-small) → diffusers names: the real UNetModel\'s output within 1e-4 + 1e-4·|ref|', async () => {
    const cfg = fixtureConfig('iddpm-small');
    const c = convertNaming(iddpm(cfg.kwargs, cfg.imageSize), 'diffusers');
    const w = convertWeights(c, readSafetensors(`${FIXTURES}iddpm-small/weights.safetensors`).tensors);
    expect(w.get('down_blocks.1.attentions.0.to_k.weight')!.shape).toEqual([64, 64]);
    const io = readSafetensors(`${FIXTURES}iddpm-small/io.safetensors`);
    const got = await forward(c.graph, w, io, '');
    const r = closeness(got, toFloat32(io.tensors.get('out')!), 1e-4, FIXTURE_REL);
    expect(r.ok, `max |d| ${r.maxAbs.toExponential(2)}`).toBe(true);
  });

  for (const name of ['guided-neworder', 'guided-headch', 'guided-updown', 'guided-classcond', 'guided-halfmult'] as const) {
    it(`guided-diffusion ${name} → diffusers names: the real output within 1e-4 + 1e-4·|ref|`, async () => {
      const meta = JSON.parse(readFileSync(`${REFERENCE}${name}.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number };
      const file = readSafetensors(`${REFERENCE}${name}.safetensors`);
      const c = convertNaming(iddpm(meta.kwargs, meta.image_size), 'diffusers');
      const got = await forward(c.graph, convertWeights(c, weightsOnly(file).tensors), file, 'io.');
      const r = closeness(got, toFloat32(file.tensors.get('io.out')!), 1e-4, 1e-4);
      expect(r.ok, `max |d| ${r.maxAbs.toExponential(2)}`).toBe(true);
    });
  }

  it('diffusers (df-iddpm, the real UNet2DModel) → OpenAI names: diffusers\' output within 1e-4 + 1e-4·|ref|', async () => {
    const file = readSafetensors(`${REFERENCE}diffusers/df-iddpm.safetensors`);
    const c = convertNaming(diffusersUNet2D(dfIddpm.config, dfIddpm.image_size), 'openai');
    const w = convertWeights(c, weightsOnly(file).tensors);
    expect(w.get('input_blocks.3.1.qkv.weight')!.shape).toEqual([192, 64, 1]);
    const got = await forward(c.graph, w, file, 'io.');
    const r = closeness(got, toFloat32(file.tensors.get('io.out')!), 1e-4, 1e-4);
    expect(r.ok, `max |d| ${r.maxAbs.toExponential(2)}`).toBe(true);
  });
});

describe('naming conversion: the weights', () => {
  it('OpenAI → diffusers → OpenAI gives every tensor back byte for byte (legacy q|k|v order)', () => {
    const cfg = fixtureConfig('iddpm-small');
    const g = iddpm(cfg.kwargs, cfg.imageSize);
    const src = readSafetensors(`${FIXTURES}iddpm-small/weights.safetensors`).tensors;
    const there = convertNaming(g, 'diffusers');
    const back = convertNaming(there.graph, 'openai');
    expect(structure(back.graph)).toEqual(structure(g));
    const w = convertWeights(back, convertWeights(there, src));
    expect([...w.keys()].sort()).toEqual([...src.keys()].sort());
    for (const [k, t] of src) {
      expect(w.get(k)!.shape, k).toEqual(t.shape);
      expect(Buffer.from((w.get(k)!.data as Float32Array).buffer.slice(0)).equals(Buffer.from((t.data as Float32Array).buffer.slice(0))), k).toBe(true);
    }
  });

  it('q, k and v land where diffusers reads them: to_k of head 1 is qkv rows 3ch+ch … 3ch+2ch (legacy)', () => {
    const cfg = fixtureConfig('iddpm-small');
    const c = convertNaming(iddpm(cfg.kwargs, cfg.imageSize), 'diffusers');
    const src = readSafetensors(`${FIXTURES}iddpm-small/weights.safetensors`).tensors;
    const w = convertWeights(c, src);
    const qkv = src.get('input_blocks.3.1.qkv.bias')!.data as Float32Array; // 2 heads of 32 channels
    const k = w.get('down_blocks.1.attentions.0.to_k.bias')!.data as Float32Array;
    expect(Array.from(k.subarray(32, 64))).toEqual(Array.from(qkv.subarray(96 + 32, 96 + 64)));
    expect(Array.from(k.subarray(0, 32))).toEqual(Array.from(qkv.subarray(32, 64)));
  });

  it('F16 weights stay F16; a missing or misshapen tensor is named, as in load_state_dict', () => {
    const cfg = fixtureConfig('iddpm-small');
    const c = convertNaming(iddpm(cfg.kwargs, cfg.imageSize), 'diffusers');
    const src = new Map([...readSafetensors(`${FIXTURES}iddpm-small/weights.safetensors`).tensors].map(([k, t]) => [k, { ...t, dtype: 'F16' as const }]));
    const w = convertWeights(c, src);
    expect(new Set([...w.values()].map((t) => t.dtype))).toEqual(new Set(['F16']));
    const missing = new Map(src);
    missing.delete('input_blocks.3.1.qkv.weight');
    expect(() => convertWeights(c, missing, 'model.safetensors')).toThrow(/model\.safetensors.*input_blocks\.3\.1\.qkv\.weight/s);
    // diffusers → OpenAI joins to_q, to_k and to_v into one qkv: they must share a dtype.
    const twin = convertNaming(diffusersUNet2D(dfIddpm.config, 16), 'openai');
    const dw = new Map<string, SafetensorsTensor>(weightsOnly(readSafetensors(`${REFERENCE}diffusers/df-iddpm.safetensors`)).tensors);
    dw.set('mid_block.attentions.0.to_k.weight', { ...dw.get('mid_block.attentions.0.to_k.weight')!, dtype: 'F16' });
    expect(() => convertWeights(twin, dw, 'df.safetensors')).toThrow(/df\.safetensors: middle_block\.1\.qkv\.weight would join F32 and F16 tensors/);
  });
});

describe('naming conversion: what has no counterpart', () => {
  it('the DDPM checkpoints (norm_eps 1e-6, [sin | cos] with shift 1, pad-right downsampling): one error naming every block and why; nothing converted', () => {
    const cfg = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-ddpm.json`, 'utf8')) as { config: Record<string, unknown>; image_size: number };
    let msg = '';
    try {
      convertNaming(diffusersUNet2D(cfg.config, cfg.image_size), 'openai');
    } catch (e) {
      expect(e).toBeInstanceOf(ConversionError);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/cannot be converted to OpenAI's UNetModel/);
    expect(msg).toMatch(/: 14 blocks have no counterpart there/);
    expect(msg).toMatch(/Timesteps \(diffusers\) "time_proj": no counterpart in OpenAI's timestep_embedding: flip_sin_to_cos false .*downscale_freq_shift 1/);
    expect(msg).toMatch(/ResnetBlock2D "down_blocks\.0\.resnets\.0": no counterpart in OpenAI's ResBlock: eps 0\.000001/);
    expect(msg).toMatch(/Downsample2D "down_blocks\.0\.downsamplers\.0": no counterpart in OpenAI's Downsample: padding 0/);
    expect(msg.split('\n')).toHaveLength(15);
  });

  it('center_input_sample, a 3×3 skip conv, and a graph of neither world', () => {
    const learned = JSON.parse(readFileSync(`${REFERENCE}diffusers/df-learned.json`, 'utf8')) as { config: Record<string, unknown>; image_size: number };
    expect(() => convertNaming(diffusersUNet2D(learned.config, learned.image_size), 'openai')).toThrow(/\n  Rescale [^\n]*"center_input_sample": a Rescale has no counterpart in OpenAI's UNetModel[^\n]*\n  Learned timesteps [^\n]*"time_proj"/);
    const g = iddpm(TWIN_KWARGS, 16);
    const skip3 = { ...g, nodes: g.nodes.map((n) => (n.name === 'input_blocks.3.0' ? { ...n, params: { ...n.params, skip_conv: '3x3' } } : n)) };
    expect(() => convertNaming(skip3, 'diffusers')).toThrow(/ResBlock "input_blocks\.3\.0": its 3×3 skip conv has no counterpart/);
    const v = vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, 16);
    expect(namingOf(v)).toBe(null);
    expect(() => convertNaming(v, 'diffusers')).toThrow(/has no block of either/);
    expect(() => convertNaming(g, 'openai')).toThrow(/already has OpenAI's UNetModel .*names/);
    const renamed = { ...g, nodes: g.nodes.map((n) => (n.name === 'input_blocks.1.0' ? { ...n, name: 'my "block" */' } : n)) };
    expect(() => convertNaming(renamed, 'diffusers')).toThrow(/ResBlock "my \\"block\\" \*\/": its name is not one of OpenAI's UNetModel module paths/);
  });
});
