/**
 * The published UNetModel configs of openai/improved-diffusion and openai/guided-diffusion: New…'s
 * iDDPM presets. The same kwargs as test/reference/published-configs.json (the reference the tests
 * compare these against, with PyTorch's parameter counts); its SuperResModel entries (a second
 * input) are not UNetModel presets.
 */
// No import of the template itself (that would be a cycle): iddpm.ts checks these against its
// kwargs type with `satisfies`, and the registry test builds each one.
export const IDDPM_PRESETS = [
  {
    name: 'improved-diffusion/imagenet64_uncond_100M_1500K',
    imageSize: 64,
    kwargs: {
      image_size: 64, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [4, 8], dropout: 0, channel_mult: [1, 2, 3, 4], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/cifar10_uncond_50M_500K',
    imageSize: 32,
    kwargs: {
      image_size: 32, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [2, 4], dropout: 0.3, channel_mult: [1, 2, 2, 2], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/imagenet64_cond_270M_250K',
    imageSize: 64,
    kwargs: {
      image_size: 64, in_channels: 3, model_channels: 192, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [4, 8], dropout: 0, channel_mult: [1, 2, 3, 4], conv_resample: true, dims: 2 as const,
      num_classes: 1000, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/lsun_uncond_100M_1200K_bs128',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [16], dropout: 0, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 1, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: false, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/lsun_uncond_100M_2400K_bs64',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [16], dropout: 0, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 1, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: false, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/imagenet64_uncond_vlb_100M_1500K',
    imageSize: 64,
    kwargs: {
      image_size: 64, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [4, 8], dropout: 0, channel_mult: [1, 2, 3, 4], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'improved-diffusion/cifar10_uncond_vlb_50M_500K',
    imageSize: 32,
    kwargs: {
      image_size: 32, in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [2, 4], dropout: 0.3, channel_mult: [1, 2, 2, 2], conv_resample: true, dims: 2 as const,
      num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: false,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/64x64_diffusion',
    imageSize: 64,
    kwargs: {
      image_size: 64, in_channels: 3, model_channels: 192, out_channels: 6, num_res_blocks: 3,
      attention_resolutions: [2, 4, 8], dropout: 0.1, channel_mult: [1, 2, 3, 4], conv_resample: true,
      dims: 2 as const, num_classes: 1000, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: true,
    },
  },
  {
    name: 'guided-diffusion/128x128_diffusion',
    imageSize: 128,
    kwargs: {
      image_size: 128, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [4, 8, 16], dropout: 0, channel_mult: [1, 1, 2, 3, 4], conv_resample: true,
      dims: 2 as const, num_classes: 1000, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: -1,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/256x256_diffusion',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: 1000, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/256x256_diffusion_uncond',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/512x512_diffusion',
    imageSize: 512,
    kwargs: {
      image_size: 512, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [16, 32, 64], dropout: 0, channel_mult: [0.5, 1, 1, 2, 2, 4, 4],
      conv_resample: true, dims: 2 as const, num_classes: 1000, use_checkpoint: false, use_fp16: false, num_heads: 4,
      num_head_channels: 64, num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/lsun_bedroom',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0.1, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/lsun_cat',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0.1, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/lsun_horse',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0.1, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
  {
    name: 'guided-diffusion/lsun_horse_nodropout',
    imageSize: 256,
    kwargs: {
      image_size: 256, in_channels: 3, model_channels: 256, out_channels: 6, num_res_blocks: 2,
      attention_resolutions: [8, 16, 32], dropout: 0, channel_mult: [1, 1, 2, 2, 4, 4], conv_resample: true,
      dims: 2 as const, num_classes: null, use_checkpoint: false, use_fp16: false, num_heads: 4, num_head_channels: 64,
      num_heads_upsample: -1, use_scale_shift_norm: true, resblock_updown: true,
      use_new_attention_order: false,
    },
  },
];
