/**
 * `template diffusers` with UNet2DConditionModel configs against the real diffusers code
 * (test/reference/diffusers/cond-*, made by make_cond.py with diffusers' own source and Debian's
 * PyTorch): Stable Diffusion 1.5's config gives exactly its state_dict and parameter count, the small
 * cases the real output on cpu and wasm through the interpreter and the generated tfjs module, and
 * what the graph cannot be is refused naming the key.
 */
import { describe, expect, it } from 'vitest';
import { analyze, countParameters } from '../graph/analyze';
import { defaultCollapsed, visibleItems } from '../graph/groups';
import { diffusersUNet, diffusersUNet2DCondition, DIFFUSERS_COND_PRESETS, SD15_UNET, templateById, TemplateError } from '../graph/templates';
import { COND_MODEL_CASES, graphListing as listing, readJson, type Listing } from './cond-cases';
import { DIFFUSERS_DIR as DIR } from './diffusers-cases';
import { describeModelParity } from './model-parity';

const SD15 = readJson<{ hub_config: Record<string, unknown>; saved_config: Record<string, unknown>; num_parameters: number; state_dict: Listing }>(`${DIR}cond-sd15-keys.json`);

describe('UNet2DConditionModel: Stable Diffusion 1.5 is exactly the real state_dict', () => {
  it("sd15 (runwayml/stable-diffusion-v1-5's unet/config.json): 859,520,964 parameters, 686 tensors with diffusers' names and shapes, in state_dict order", () => {
    const g = diffusersUNet2DCondition(SD15_UNET);
    const a = analyze(g);
    expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(countParameters(a)).toBe(859_520_964);
    expect(SD15.num_parameters).toBe(859_520_964);
    const got = listing(g);
    expect(got.length).toBe(686);
    expect(got).toEqual(SD15.state_dict);
    expect(got).toContainEqual(['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight', [320, 768]]);
    expect(got).toContainEqual(['mid_block.attentions.0.proj_in.weight', [1280, 1280, 1, 1]]);
  });

  it('the preset is the Hub config the reference was built from; the config as save_config writes it (every key) gives the same graph', () => {
    expect(SD15_UNET).toEqual(SD15.hub_config);
    expect(DIFFUSERS_COND_PRESETS.map((p) => [p.name, p.imageSize])).toEqual([['sd15', 64]]);
    const t = templateById('diffusers')!;
    expect(t.presets.map((p) => p.name)).toEqual(['google/ddpm-cifar10-32', 'google/ddpm-celebahq-256', 'sd15']);
    const g = t.build(SD15_UNET, 64);
    expect(g.nodes).toEqual(diffusersUNet2DCondition(SD15.saved_config).nodes);
    expect(g.edges).toEqual(diffusersUNet2DCondition(SD15.saved_config).edges);
    expect(diffusersUNet(SD15_UNET)).toEqual(g);
    expect(g.description).toBe(
      'UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, attention_head_dim=8, down_block_types=(CrossAttnDownBlock2D, CrossAttnDownBlock2D, CrossAttnDownBlock2D, DownBlock2D)); ignored _diffusers_version (no effect on the model)',
    );
    expect(g.nodes.filter((n) => n.type === 'ContextInput').map((n) => [n.name, n.params])).toEqual([['encoder_hidden_states', { tokens: 77, dim: 768 }]]);
    expect(g.nodes.find((n) => n.type === 'ImageInput')!.params).toEqual({ channels: 4, height: 64, width: 64 });
    // attention_head_dim 8 is the number of heads: 8 × 40 at 320 channels, 8 × 160 at 1280.
    const heads = (name: string) => g.nodes.find((n) => n.name === name)!.params;
    expect(heads('down_blocks.0.attentions.1')).toEqual({ num_attention_heads: 8, attention_head_dim: 40, num_layers: 1, use_linear_projection: false });
    expect(heads('mid_block.attentions.0')).toMatchObject({ num_attention_heads: 8, attention_head_dim: 160 });
    expect(heads('up_blocks.3.attentions.2')).toMatchObject({ num_attention_heads: 8, attention_head_dim: 40 });
  });

  it('opens with its levels collapsed: 19 things to see', () => {
    const g = diffusersUNet2DCondition(SD15_UNET);
    // x, timesteps, encoder_hidden_states, conv_in, time_proj, time_embedding, conv_norm_out, conv_act, conv_out, output; 4 + 1 + 4 groups.
    expect(visibleItems(g, new Set(defaultCollapsed(g)))).toEqual({ blocks: 10, collapsed: 9, frames: 0, total: 19 });
  });

  it('attention_head_dim as a list counts heads per level, reversed for the up blocks; heads that do not fit are refused by block', () => {
    const g = diffusersUNet2DCondition({ ...SD15_UNET, attention_head_dim: [5, 10, 20, 20], use_linear_projection: true, transformer_layers_per_block: [1, 2, 3, 4] });
    const p = (name: string) => g.nodes.find((n) => n.name === name)!.params;
    expect(p('down_blocks.0.attentions.0')).toEqual({ num_attention_heads: 5, attention_head_dim: 64, num_layers: 1, use_linear_projection: true });
    expect(p('down_blocks.2.attentions.0')).toEqual({ num_attention_heads: 20, attention_head_dim: 64, num_layers: 3, use_linear_projection: true });
    expect(p('mid_block.attentions.0')).toEqual({ num_attention_heads: 20, attention_head_dim: 64, num_layers: 4, use_linear_projection: true });
    expect(p('up_blocks.1.attentions.0')).toEqual({ num_attention_heads: 20, attention_head_dim: 64, num_layers: 3, use_linear_projection: true });
    expect(p('up_blocks.3.attentions.0')).toEqual({ num_attention_heads: 5, attention_head_dim: 64, num_layers: 1, use_linear_projection: true });
    expect(() => diffusersUNet2DCondition({ ...SD15_UNET, block_out_channels: [32, 64, 128, 128], attention_head_dim: [64, 8, 8, 8] })).toThrow(
      new TemplateError('UNet2DConditionModel: down_blocks.0.attentions.0: 32 channels cannot be split into 64 heads (attention_head_dim is the number of heads in this class); use at most 32'),
    );
  });
});

describe('UNet2DConditionModel configs the graph cannot be are refused naming the key', () => {
  const refusal = (over: Record<string, unknown>): string => {
    try {
      diffusersUNet2DCondition({ ...SD15_UNET, ...over }, 64);
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(over)}`);
  };
  it.each([
    [{ num_attention_heads: 8 }, /\n {2}num_attention_heads: 8 is not supported \(diffusers' UNet2DConditionModel raises on it; give the head count as attention_head_dim\); leave it null$/],
    [{ addition_embed_type: 'text_time' }, /\n {2}addition_embed_type: "text_time" is not supported \(added text\/image\/time embeddings \(SDXL, Kandinsky\) have no block\); leave it null$/],
    [{ time_cond_proj_dim: 256 }, /\n {2}time_cond_proj_dim: 256 is not supported \(a timestep condition \(LCM\) input has no block\); leave it null$/],
    [{ class_embed_type: 'timestep' }, /\n {2}class_embed_type: "timestep" is not supported \(/],
    [{ only_cross_attention: [false, true, false, false] }, /\n {2}only_cross_attention: true is not supported \(attn1 attending to encoder_hidden_states has no block\); leave it false$/],
    [{ dual_cross_attention: true }, /\n {2}dual_cross_attention: true is not supported \(DualTransformer2DModel has no block\); only false is$/],
    [{ attention_type: 'gated' }, /\n {2}attention_type: "gated" is not supported \(gated \(GLIGEN\) attention has no block\); only "default" is$/],
    [{ down_block_types: ['SimpleCrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'] }, /\n {2}down_block_types\.0: "SimpleCrossAttnDownBlock2D" is not supported; supported: CrossAttnDownBlock2D, DownBlock2D$/],
    [{ mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }, /\n {2}mid_block_type: "UNetMidBlock2DSimpleCrossAttn" is not supported; supported: UNetMidBlock2DCrossAttn, UNetMidBlock2D$/],
    [{ cross_attention_dim: [768, 768, 1024, 1024] }, /\n {2}cross_attention_dim: \[768,768,1024,1024\]: one width per level is not supported \(the graph has one encoder_hidden_states input\); give one number$/],
    [{ attention_head_dim: [8, 8] }, /\n {2}attention_head_dim: has 2 entries but block_out_channels has 4; give one number, or one per level$/],
    [{ transformer_layers_per_block: [[1, 2], [1, 2], [1, 2], [1, 2]] }, /\n {2}transformer_layers_per_block/],
    [{ norm_num_groups: 16 }, /\n {2}norm_num_groups: 16 is not supported with cross-attention blocks \(the Transformer2DModel block's GroupNorm has 32 groups\); use 32$/],
    [{ norm_num_groups: null }, /\n {2}norm_num_groups: null \(no conv_norm_out\) is not supported; give the GroupNorm groups \(32\)$/],
    [{ act_fn: 'mish' }, /\n {2}act_fn: "mish" is not supported \(the time MLP and conv_act use act_fn too\); supported: silu, swish$/],
    [{ time_embedding_type: 'fourier' }, /\n {2}time_embedding_type: "fourier" is not supported \(the Fourier time embedding has no block\); supported: positional$/],
    [{ encoder_hid_dim: 1024 }, /\n {2}encoder_hid_dim: 1024 is not supported/],
    [{ conv_in_kernel: 4 }, /\n {2}conv_in_kernel: must be odd/],
  ])('refuses %j', (over, message) => {
    const m = refusal(over);
    expect(m.startsWith('UNet2DConditionModel kwargs are invalid:\n')).toBe(true);
    expect(m).toMatch(message);
  });

  it('accepts what has no effect here: upcast_attention (float32), the SimpleCrossAttn-only keys, unknown keys with a note', () => {
    const base = diffusersUNet2DCondition(SD15_UNET);
    const g = diffusersUNet2DCondition({ ...SD15_UNET, upcast_attention: true, resnet_skip_time_act: true, cross_attention_norm: 'group_norm', some_future_key: 1 });
    expect(g.nodes).toEqual(base.nodes);
    expect(g.description).toMatch(/; ignored unknown key some_future_key$/);
    // A UNet2DModel config still builds a UNet2DModel through the same template.
    expect(templateById('diffusers')!.build({ _class_name: 'UNet2DModel', block_out_channels: [32, 64], down_block_types: ['DownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'UpBlock2D'], sample_size: 8 }).nodes.some((n) => n.type === 'ContextInput')).toBe(false);
    expect(() => diffusersUNet2DCondition({ ...SD15_UNET, sample_size: null })).toThrow('UNet2DConditionModel: image size missing: put sample_size in the config or pass it (--image-size)');
  });
});

describeModelParity('UNet2DConditionModel matches the real diffusers code', COND_MODEL_CASES);
