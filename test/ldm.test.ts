/**
 * The `ldm` template against the real latent-diffusion UNetModel (test/reference/ldm, made by
 * make_templates.py with CompVis/stable-diffusion's and Stability-AI/stablediffusion's own source and
 * Debian's PyTorch): SD 1.x and 2.x give exactly their state_dict and parameter counts, more configs
 * their structure, the small cases the real output on cpu and wasm through the interpreter and
 * through the generated tfjs module, and configs the graph cannot be are refused by name.
 */
import { describe, expect, it } from 'vitest';
import { analyze, countParameters } from '../graph/analyze';
import { defaultCollapsed, visibleItems } from '../graph/groups';
import { ldm, LDM_PRESETS, SD1_UNET, SD2_UNET, templateById, TemplateError } from '../graph/templates';
import { graphListing as listing, LDM_DIR as DIR, LDM_MODEL_CASES, readJson, type Listing } from './cond-cases';
import { describeModelParity } from './model-parity';

interface Published {
  readonly unet_config_params: Record<string, unknown>;
  readonly num_parameters: number;
  readonly state_dict: Listing;
}
const json = <T>(f: string): T => readJson<T>(`${DIR}${f}`);
const SD1 = json<Published>('sd1-keys.json');
const SD2 = json<Published>('sd2-keys.json');
const STRUCTURE = json<{ configs: { name: string; kwargs: Record<string, unknown>; num_parameters: number; state_dict: Listing }[] }>('structure.json').configs;

describe('Stable Diffusion UNets: exactly the real state_dict and parameter count', () => {
  it("SD 1.x (v1-inference.yaml): 859,520,964 parameters, 686 tensors with the checkpoint's names and shapes, in state_dict order", () => {
    const g = ldm(SD1.unet_config_params, 64);
    const a = analyze(g);
    expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(countParameters(a)).toBe(859_520_964);
    expect(SD1.num_parameters).toBe(859_520_964);
    const got = listing(g);
    expect(got.length).toBe(686);
    expect(got).toEqual(SD1.state_dict);
    expect(got).toContainEqual(['input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight', [320, 768]]);
  });

  it('SD 2.x (v2-inference.yaml: num_head_channels 64, linear projections, context 1024): 865,910,724 parameters, the same 686 names', () => {
    const g = ldm(SD2.unet_config_params, 64);
    const a = analyze(g);
    expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(countParameters(a)).toBe(SD2.num_parameters);
    expect(SD2.num_parameters).toBe(865_910_724);
    expect(listing(g)).toEqual(SD2.state_dict);
    // 5 heads of 64 at 320 channels, 20 at 1280; linear proj_in.
    const heads = new Map(g.nodes.filter((n) => n.type === 'SpatialTransformer').map((n) => [n.name, `${String(n.params.n_heads)}x${String(n.params.d_head)}`]));
    expect([heads.get('input_blocks.1.1'), heads.get('middle_block.1'), heads.get('output_blocks.11.1')]).toEqual(['5x64', '20x64', '5x64']);
  });

  it('the presets sd1 and sd2 are the yamls\' unet_config.params, with a 64×64 latent and a 77 × context_dim context input', () => {
    expect(SD1_UNET).toEqual(SD1.unet_config_params);
    expect(SD2_UNET).toEqual(SD2.unet_config_params);
    expect(templateById('ldm')!.presets).toBe(LDM_PRESETS);
    expect(LDM_PRESETS.map((p) => [p.name, p.imageSize])).toEqual([['sd1', 64], ['sd2', 64]]);
    const g = ldm(SD1_UNET, 64);
    expect(g.nodes.filter((n) => n.type === 'ContextInput').map((n) => [n.name, n.params])).toEqual([['context', { tokens: 77, dim: 768 }]]);
    expect(g.nodes.find((n) => n.type === 'ImageInput')!.params).toEqual({ channels: 4, height: 64, width: 64 });
  });

  it.each(STRUCTURE.map((c) => [c.name, c] as const))('%s: the real structure and count', (_n, c) => {
    const g = ldm(c.kwargs);
    expect(countParameters(analyze(g))).toBe(c.num_parameters);
    expect(listing(g)).toEqual(c.state_dict);
  });

  it('SD 1.x opens with its levels collapsed: x, timesteps, context, the time embedding and the output, plus 10 groups', () => {
    const g = ldm(SD1_UNET, 64);
    // 3 inputs, 2 time embedding, input_blocks 1 + 8 ResBlocks + 6 transformers + 3 Downsample, middle 3,
    // output_blocks 12 × (Concat, ResBlock) + 9 transformers + 3 Upsample, out 3, the output.
    expect(g.nodes.length).toBe(3 + 2 + 18 + 3 + 36 + 3 + 1);
    expect(visibleItems(g, new Set(defaultCollapsed(g)))).toEqual({ blocks: 6, collapsed: 10, frames: 0, total: 16 });
  });
});

describe('configs as Stable Diffusion ships them', () => {
  const refusal = (over: Record<string, unknown>, base: Record<string, unknown> = SD1_UNET): string => {
    try {
      ldm({ ...base, ...over }, 64);
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(over)}`);
  };

  it("a whole inference yaml, its unet_config ({target, params}) or {unet_config} give the kwargs' graph; another target is refused", () => {
    const want = ldm(SD2_UNET, 64);
    const target = 'ldm.modules.diffusionmodules.openaimodel.UNetModel';
    expect(ldm({ model: { target: 'ldm.models.diffusion.ddpm.LatentDiffusion', params: { unet_config: { target, params: SD2_UNET } } } }, 64)).toEqual(want);
    expect(ldm({ target, params: SD2_UNET }, 64)).toEqual(want);
    expect(ldm({ unet_config: { params: SD2_UNET } }, 64)).toEqual(want);
    expect(() => ldm({ target: 'ldm.modules.diffusionmodules.openaimodel.EncoderUNetModel', params: SD2_UNET })).toThrow(/unet_config\.target "ldm\.modules\.diffusionmodules\.openaimodel\.EncoderUNetModel" is not latent-diffusion's UNetModel/);
  });

  it.each([
    [{ transformer_depth: [1, 2, 10, 10] }, /\n {2}transformer_depth: one depth per level \(SDXL's sgm code\) is not supported by this UNetModel; give one whole number$/],
    [{ context_dim: [768, 768] }, /\n {2}context_dim: a list \(one context per transformer block\) is not supported: the model has one context input; give one whole number$/],
    [{ disable_self_attentions: [false, true, false, false] }, /\n {2}disable_self_attentions: disabling self-attention \(attn1 attending to the context\) is not supported; leave it null or all false$/],
    [{ disable_middle_self_attn: true }, /\n {2}disable_middle_self_attn: disabling the middle block's self-attention is not supported; leave it false$/],
    [{ num_classes: 'sequential', adm_in_channels: 2816 }, /\n {2}num_classes: "sequential" label embeddings are not supported; give a whole number of classes, or null\n {2}adm_in_channels: adm_in_channels \(a "sequential" label embedding\) is not supported; leave it null$/],
    [{ n_embed: 8192 }, /\n {2}n_embed: predicting codebook ids \(n_embed\) is not supported; leave it null$/],
    [{ context_dim: null }, /\n {2}context_dim: is required with use_spatial_transformer \(the width of the context tokens\)$/],
    [{ use_spatial_transformer: false }, /\n {2}use_spatial_transformer: must be true when context_dim is given \(only the spatial transformer reads the context\)$/],
    [{ num_heads: -1 }, /\n {2}num_heads: either num_heads or num_head_channels has to be set$/],
    [{ channel_mult: [2, 2, 4, 4] }, /\n {2}channel_mult\.0: must be 1: latent-diffusion's stem and out conv have model_channels channels, so with 2 the model does not run$/],
    [{ channel_mult: [1, 1.5] }, /\n {2}channel_mult\.1: must be a whole number from 1 to 64$/],
    [{ num_res_blocks: [2, 2] }, /\n {2}num_res_blocks: has 2 entries for 4 levels: give one number, or one per channel_mult entry$/],
    [{ num_attention_blocks: [1, 3, 1, 1] }, /\n {2}num_attention_blocks\.1: 3 is more than the level's 2 residual blocks$/],
    [{ dims: 3 }, /\n {2}dims: only dims = 2 \(images\) is supported$/],
    [{ use_xformers: true }, /\n {2}\(root\): Unrecognized key: "use_xformers"$/],
  ])('refuses %j naming the key', (over, message) => {
    const m = refusal(over);
    expect(m.startsWith('UNetModel kwargs are invalid:\n')).toBe(true);
    expect(m).toMatch(message);
  });

  it('heads that do not fit are refused by block: a linear projection needs heads × head size = channels, and a head needs a channel', () => {
    expect(refusal({ num_heads: 3, num_head_channels: -1 }, SD2_UNET)).toBe(
      "UNetModel: input_blocks.1.1: use_linear_in_transformer needs heads × head channels = the channels (latent-diffusion's proj_out is Linear(in_channels, inner)), got 3 × 106 = 318 for 320 channels",
    );
    expect(refusal({ num_head_channels: 400 })).toBe('UNetModel: input_blocks.1.1: 320 channels give 0 heads of 400 channels; use fewer heads (num_heads) or fewer channels per head (num_head_channels)');
    // A conv projection takes any inner width, as in the source: 3 heads of 106 at 320 channels.
    const g = ldm({ ...SD1_UNET, num_heads: 3 }, 64);
    expect(g.nodes.find((n) => n.name === 'input_blocks.1.1')!.params).toMatchObject({ n_heads: 3, d_head: 106 });
  });

  it('num_attention_blocks limits the attention layers per level, as in Stability\'s code', () => {
    const g = ldm({ ...SD2_UNET, num_attention_blocks: [1, 2, 0, 2] }, 64);
    const attn = g.nodes.filter((n) => n.type === 'SpatialTransformer').map((n) => n.name);
    expect(attn).toEqual(['input_blocks.1.1', 'input_blocks.4.1', 'input_blocks.5.1', 'middle_block.1', 'output_blocks.6.1', 'output_blocks.7.1', 'output_blocks.9.1']);
    // Where a level's attention is left out, its upsampler moves up: output_blocks.8.1.
    expect(g.nodes.find((n) => n.name === 'output_blocks.8.1')!.type).toBe('Upsample');
  });
});

describeModelParity('latent-diffusion UNetModel matches the real code', LDM_MODEL_CASES);
