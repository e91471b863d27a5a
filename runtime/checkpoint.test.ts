/**
 * A whole latent-diffusion / Stable Diffusion checkpoint (the UNet under `model.diffusion_model.`,
 * beside the VAE, the text encoder, the EMA copy and the schedule's buffers) loads into a UNet graph:
 * the prefix is stripped, the other parts are ignored with a note, and the UNet's own check stays
 * strict (weights/legacy.ts, the one place every loader maps a file's keys).
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { iddpm } from '../graph/templates';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { WeightLoadError } from '../weights/pytorch';
import { checkpointNote, legacyKeyRenames, UNET_CHECKPOINT_PREFIX, withLegacyNames } from '../weights/legacy';
import { disposeWeights, loadWeights, loadWeightsAsync, type WeightStore } from './weights';

const graph = iddpm({ in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [1], channel_mult: [1], num_heads: 2 }, 8);
const plan = analyze(graph);
const expected = expectedWeights(plan);

/** The UNet's state_dict with distinct values (PyTorch shapes), its keys under `prefix`. */
function unet(prefix: string): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  expected.forEach((w, i) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    out[`${prefix}${w.fullKey}`] = { dtype: 'F32', shape: w.shape, data: Float32Array.from({ length: n }, (_, j) => i + j / 1000) };
  });
  return out;
}

/** The parts of an SD checkpoint that are not the UNet (a few tensors each, real names). */
const OTHERS: Record<string, TensorToWrite> = {
  'first_stage_model.encoder.conv_in.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) },
  'first_stage_model.decoder.conv_out.bias': { dtype: 'F32', shape: [3], data: new Float32Array(3) },
  'first_stage_model.quant_conv.bias': { dtype: 'F16', shape: [8], data: new Float32Array(8) },
  'cond_stage_model.transformer.text_model.embeddings.position_ids': { dtype: 'I64', shape: [1, 77], data: Array.from({ length: 77 }, (_, i) => i) },
  'model_ema.decay': { dtype: 'F32', shape: [], data: new Float32Array([0.9999]) },
  'model_ema.diffusion_modelinput_blocks00weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) },
  alphas_cumprod: { dtype: 'F32', shape: [10], data: new Float32Array(10) },
};

const file = (tensors: Record<string, TensorToWrite>) => parseSafetensors(writeSafetensors(tensors), { source: 'sd.safetensors' });

async function values(store: WeightStore): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of store) out.set(k, Array.from(await t.data()));
  return out;
}

describe('a whole checkpoint loads into its UNet', () => {
  it('model.diffusion_model.* is read as the UNet (the same tensors as a bare state_dict), the VAE, text encoder, EMA and buffers are ignored', async () => {
    await tf.setBackend('cpu');
    const bare = loadWeights(plan, file(unet('')));
    const whole = loadWeights(plan, file({ ...unet(UNET_CHECKPOINT_PREFIX), ...OTHERS }));
    const asyncWhole = await loadWeightsAsync(expected, file({ ...unet(UNET_CHECKPOINT_PREFIX), ...OTHERS }));
    try {
      expect([...whole.keys()]).toEqual(expected.map((w) => w.fullKey));
      const want = await values(bare);
      expect(await values(whole)).toEqual(want);
      expect(await values(asyncWhole)).toEqual(want);
      // The values really are the file's (not zeros): input_blocks.0.0.weight is the first weight.
      expect(want.get('input_blocks.0.0.weight')!.slice(0, 2).every((v) => v >= 0 && v < 1)).toBe(true);
      expect(new Set(want.get('time_embed.0.bias')).size).toBe(128);
    } finally {
      [bare, whole, asyncWhole].forEach(disposeWeights);
    }
  });

  it('the note says where the UNet came from and how many tensors of which parts were ignored', () => {
    const keys = Object.keys({ ...unet(UNET_CHECKPOINT_PREFIX), ...OTHERS });
    expect(checkpointNote(expected.map((w) => w.fullKey), keys)).toBe(
      `a whole checkpoint: the UNet was read from under "model.diffusion_model." (${expected.length} tensors); ` +
        '7 tensors of its other parts ignored (first_stage_model. 3, model_ema. 2, alphas_cumprod 1, cond_stage_model. 1)',
    );
    // A bare state_dict: no note.
    expect(checkpointNote(expected.map((w) => w.fullKey), Object.keys(unet('')))).toBeNull();
    // time_embed 4, stem 2, ResBlocks 10 (12 with a skip conv), attentions 6: 4 + 2 + 10 + 6 + 26 + 2 × 18 + out 4.
    expect(expected.length).toBe(88);
  });

  it('the UNet part stays strict: a missing or misshapen UNet tensor is named without the prefix; the other parts are never "unexpected"', () => {
    const tensors = { ...unet(UNET_CHECKPOINT_PREFIX), ...OTHERS };
    delete tensors[`${UNET_CHECKPOINT_PREFIX}middle_block.1.qkv.weight`];
    tensors[`${UNET_CHECKPOINT_PREFIX}out.2.bias`] = { dtype: 'F32', shape: [4], data: new Float32Array(4) };
    tensors[`${UNET_CHECKPOINT_PREFIX}input_blocks.9.0.weight`] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    let err: unknown;
    try {
      loadWeights(plan, file(tensors));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WeightLoadError);
    const e = err as WeightLoadError;
    expect(e.missing).toEqual(['middle_block.1.qkv.weight']);
    expect(e.unexpected).toEqual(['input_blocks.9.0.weight']);
    expect(e.mismatched.map((m) => m.key)).toEqual(['out.2.bias']);
  });

  it('nothing is stripped or ignored when the graph itself is named with the prefix, or the file has no prefixed key', () => {
    const mine = ['model.diffusion_model.w', 'other.w'];
    const entries = new Map([['model.diffusion_model.w', 1], ['other.w', 2]]);
    expect(withLegacyNames(mine, entries)).toEqual(entries);
    expect(checkpointNote(mine, entries.keys())).toBeNull();
    const plainFile = new Map([['a.weight', 1], ['first_stage_model.b', 2]]);
    expect(withLegacyNames(['a.weight'], plainFile)).toEqual(plainFile);
  });

  it('prefix and legacy attention names compose: model.diffusion_model.….query.weight is read as ….to_q.weight', () => {
    const expectedKeys = ['mid_block.attentions.0.to_q.weight', 'conv_in.weight'];
    const fileKeys = ['model.diffusion_model.mid_block.attentions.0.query.weight', 'model.diffusion_model.conv_in.weight', 'first_stage_model.x'];
    expect(legacyKeyRenames(expectedKeys, fileKeys)).toEqual(
      new Map([
        ['model.diffusion_model.mid_block.attentions.0.query.weight', 'mid_block.attentions.0.to_q.weight'],
        ['model.diffusion_model.conv_in.weight', 'conv_in.weight'],
      ]),
    );
    expect([...withLegacyNames(expectedKeys, new Map(fileKeys.map((k, i) => [k, i])))]).toEqual([
      ['mid_block.attentions.0.to_q.weight', 0],
      ['conv_in.weight', 1],
    ]);
  });
});
