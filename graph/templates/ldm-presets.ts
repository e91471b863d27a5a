/**
 * Stable Diffusion's UNets as New…'s `ldm` presets: the `unet_config.params` of the inference yamls
 * exactly as published (CompVis/stable-diffusion `configs/stable-diffusion/v1-inference.yaml`,
 * Stability-AI/stablediffusion `configs/stable-diffusion/v2-inference.yaml`; `image_size: 32` is
 * marked "unused" there). The image size of a preset is the latent size of a 512×512 image (64).
 * test/reference/ldm/sd1-keys.json and sd2-keys.json hold the same params with the real code's
 * state_dict and parameter count (859,520,964 and 865,910,724), which the tests compare.
 */
// No import of the template itself (that would be a cycle): ldm.ts checks these with `satisfies`.
export const SD1_UNET = {
  image_size: 32, in_channels: 4, out_channels: 4, model_channels: 320,
  attention_resolutions: [4, 2, 1], num_res_blocks: 2, channel_mult: [1, 2, 4, 4],
  num_heads: 8, use_spatial_transformer: true, transformer_depth: 1, context_dim: 768,
  use_checkpoint: true, legacy: false,
};

export const SD2_UNET = {
  use_checkpoint: true, use_fp16: true, image_size: 32, in_channels: 4, out_channels: 4,
  model_channels: 320, attention_resolutions: [4, 2, 1], num_res_blocks: 2,
  channel_mult: [1, 2, 4, 4], num_head_channels: 64, use_spatial_transformer: true,
  use_linear_in_transformer: true, transformer_depth: 1, context_dim: 1024, legacy: false,
};

export const LDM_PRESETS = [
  { name: 'sd1', imageSize: 64, kwargs: SD1_UNET },
  { name: 'sd2', imageSize: 64, kwargs: SD2_UNET },
];
