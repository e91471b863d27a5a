/**
 * The body of OpenAI's `UNetModel` (improved-diffusion, guided-diffusion, and latent-diffusion's copy
 * of it), shared by the `iddpm` and `ldm` templates: the stem, the encoder levels, the middle block,
 * the decoder levels with their skip concatenations, the `out` head and the Output. The templates add
 * the inputs and the embedding, and say how many residual blocks a level has, where attention goes
 * and what attention block it is.
 */
import type { GraphBuilder } from '../builder';

/**
 * UNetModel's inputs and embedding, in its registration order: the image `x`, `timesteps`, the
 * sinusoidal embedding, `time_embed` (4 × model_channels) and, with `numClasses`, the label `y` and
 * `label_emb` added to it. Returns the image input and the embedding every ResBlock reads.
 */
export function addUNetModelInputs(
  b: GraphBuilder,
  k: { readonly in_channels: number; readonly model_channels: number },
  numClasses: number | null,
  height: number,
  width: number,
): { x: string; emb: string } {
  const mc = k.model_channels;
  const x = b.add('ImageInput', 'x', { channels: k.in_channels, height, width });
  const t = b.add('TimestepsInput', 'timesteps');
  const sin = b.add('TimestepEmbedding', 'timestep_embedding', { dim: mc }, { x: t });
  let emb = b.add('TimeEmbedMLP', 'time_embed', { dim: mc * 4 }, { x: sin });
  if (numClasses !== null) {
    const y = b.add('ClassLabelInput', 'y', { num_classes: numClasses });
    emb = b.add('LabelEmbedding', 'label_emb', {}, { x: emb, y });
  }
  return { x, emb };
}

/** The UNetModel kwargs the level structure reads. */
export interface UNetModelLevelKwargs {
  readonly model_channels: number;
  readonly channel_mult: readonly number[];
  readonly out_channels: number;
  readonly use_scale_shift_norm: boolean;
  readonly dropout: number;
  readonly resblock_updown: boolean;
  readonly conv_resample: boolean;
}

export interface UNetModelLevels {
  /** The image input and the (time, and label) embedding every ResBlock reads. */
  readonly x: string;
  readonly emb: string;
  /** Residual blocks of each level (`num_res_blocks`, per level). */
  readonly numResBlocks: readonly number[];
  /** Whether the `r`-th residual block of `level` (at downsampling `ds`) is followed by attention; the middle block always has it. */
  readonly attends: (ds: number, level: number, r: number) => boolean;
  /** Adds the attention block `name` on `h` at `ch` channels (`upsampling` on the decoder path), in the source's order. */
  readonly attention: (name: string, h: string, ch: number, upsampling: boolean) => string;
}

/**
 * Adds `UNetModel`'s blocks from `input_blocks.0.0` to `out.2` and the Output, with PyTorch's module
 * names. Level i has `int(channel_mult[i] * model_channels)` channels.
 *
 * Groups (they only organise; names and weights are those of the flat graph): each encoder level
 * `encoder.k` and decoder level `decoder.k` (k = 0 at full resolution; not module paths) holds its
 * `input_blocks.N` / `output_blocks.N` (module paths, where they hold more than one module),
 * `middle_block` and `out` are modules. The stem input_blocks.0.0 opens encoder level 0.
 */
export function addUNetModelLevels(b: GraphBuilder, k: UNetModelLevelKwargs, u: UNetModelLevels): void {
  const mc = k.model_channels;
  const { emb, attends, attention } = u;
  const res = (name: string, h: string, out: number, resample: 'none' | 'up' | 'down' = 'none') =>
    b.add('ResBlock', name, { out_channels: out, use_scale_shift_norm: k.use_scale_shift_norm, resample, dropout: k.dropout }, { x: h, emb });
  const module = <T>(name: string, fn: () => T): T => b.group(name, fn, { onlyIfMany: true });
  let ch = Math.trunc(k.channel_mult[0]! * mc);
  let h = '';
  const skips: string[] = [];
  let ds = 1;
  let block = 1;
  k.channel_mult.forEach((mult, level) => {
    b.group(`encoder.${level}`, () => {
      if (level === 0) {
        h = b.add('Conv2d', 'input_blocks.0.0', { out_channels: ch, kernel_size: 3, stride: 1, padding: 1, bias: true }, { x: u.x });
        skips.push(h);
      }
      for (let r = 0; r < u.numResBlocks[level]!; r++) {
        ch = Math.trunc(mult * mc);
        module(`input_blocks.${block}`, () => {
          h = res(`input_blocks.${block}.0`, h, ch);
          if (attends(ds, level, r)) h = attention(`input_blocks.${block}.1`, h, ch, false);
        });
        skips.push(h);
        block++;
      }
      if (level !== k.channel_mult.length - 1) {
        h = k.resblock_updown
          ? res(`input_blocks.${block}.0`, h, ch, 'down')
          : b.add('Downsample', `input_blocks.${block}.0`, { use_conv: k.conv_resample }, { x: h });
        skips.push(h);
        block++;
        ds *= 2;
      }
    });
  });

  b.group('middle_block', () => {
    h = res('middle_block.0', h, ch);
    h = attention('middle_block.1', h, ch, false);
    h = res('middle_block.2', h, ch);
  });

  block = 0;
  [...k.channel_mult.entries()].reverse().forEach(([level, mult]) => {
    b.group(`decoder.${level}`, () => {
      for (let i = 0; i <= u.numResBlocks[level]!; i++) {
        module(`output_blocks.${block}`, () => {
          const skip = skips.pop()!;
          const cat = b.add('Concat', `output_blocks.${block}.cat`, { order: 'x_first' }, { x: h, skip });
          ch = Math.trunc(mc * mult);
          h = res(`output_blocks.${block}.0`, cat, ch);
          let sub = 1;
          if (attends(ds, level, i)) h = attention(`output_blocks.${block}.${sub++}`, h, ch, true);
          if (level > 0 && i === u.numResBlocks[level]) {
            const name = `output_blocks.${block}.${sub}`;
            h = k.resblock_updown ? res(name, h, ch, 'up') : b.add('Upsample', name, { use_conv: k.conv_resample }, { x: h });
            ds /= 2;
          }
        });
        block++;
      }
    });
  });

  b.group('out', () => {
    h = b.add('GroupNorm', 'out.0', { groups: 32, eps: 1e-5 }, { x: h });
    h = b.add('SiLU', 'out.1', {}, { x: h });
    h = b.add('Conv2d', 'out.2', { out_channels: k.out_channels, kernel_size: 3, stride: 1, padding: 1, bias: true, zero_init: true }, { x: h });
  });
  b.add('Output', 'output', {}, { x: h });
}
