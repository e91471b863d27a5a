/** Model configurations the benchmarks and several tests share. */
import type { IddpmKwargs } from '../graph/templates';

/** `../shared/fixtures/iddpm-small` (16×16). */
export const IDDPM_SMALL: IddpmKwargs = {
  in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [2],
  dropout: 0, channel_mult: [1, 2], num_heads: 2, use_scale_shift_norm: true,
};

/** The 64-channel 32×32 config of the core issue (3.2 GFLOP per sample). */
export const IDDPM_64: IddpmKwargs = {
  in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2],
  channel_mult: [1, 2, 2], num_heads: 4,
};

/** iDDPM's CIFAR-10 paper config as given in the codegen issue (32×32, learned sigma → 6 channels). */
export const IDDPM_CIFAR10: IddpmKwargs = {
  in_channels: 3, model_channels: 128, out_channels: 6, num_res_blocks: 3, attention_resolutions: [2, 4],
  channel_mult: [1, 2, 2, 2], num_heads: 4, dropout: 0.3,
};
