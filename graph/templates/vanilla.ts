/** `vanilla`: milesial/Pytorch-UNet `UNet(n_channels, n_classes, bilinear=False)`, widths configurable. */
import { z } from 'zod';
import type { Graph } from '../model';
import { GraphBuilder } from '../builder';
import { defineTemplate, hw, int, list, parseOrThrow, TEMPLATE_LIMITS as L, type ImageSize } from './common';

export const VanillaKwargs = z
  .object({
    image_size: int(1, L.image_size).optional().describe('Height and width of the image in pixels (default 256; the CLI\'s --image-size overrides it, and takes HxW).'),
    n_channels: int(1, L.io_channels).describe('Channels of the input image.'),
    n_classes: int(1, L.io_channels).describe('Channels of the output: one per class.'),
    widths: list(int(1, L.channels), L.levels).min(1, { error: 'must have at least one entry' }).default([64, 128, 256, 512, 1024]).describe('Channels of each level, from the top; one entry per level.'),
    bilinear: z.literal(false, { error: 'only bilinear = false (transposed-conv upsampling) is supported' }).default(false).describe('Bilinear upsampling instead of transposed convolutions: only false is supported.'),
  })
  .strict();
export type VanillaKwargs = z.input<typeof VanillaKwargs>;

/** milesial/Pytorch-UNet `UNet(n_channels, n_classes, bilinear=False)` with the given widths. */
export function vanilla(kwargsIn: unknown, imageSize?: ImageSize): Graph {
  const k = parseOrThrow(VanillaKwargs, kwargsIn, 'UNet');
  const size = imageSize ?? k.image_size ?? 256;
  const { height, width } = hw(size, 'UNet');
  const b = new GraphBuilder();
  const widths = k.widths;
  const x = b.add('ImageInput', 'x', { channels: k.n_channels, height, width });
  let h = b.add('DoubleConv', 'inc', { out_channels: widths[0] }, { x });
  const skips = [h];
  // Groups (they only organise): each down stage `down{i}` (max-pool, double conv) and up stage
  // `up{i}` (transposed conv, concat, double conv), milesial's own modules.
  for (let i = 1; i < widths.length; i++) {
    b.group(`down${i}`, () => {
      const pool = b.add('MaxPool2d', `down${i}.maxpool_conv.0`, { kernel_size: 2 }, { x: h });
      h = b.add('DoubleConv', `down${i}.maxpool_conv.1`, { out_channels: widths[i] }, { x: pool });
    });
    skips.push(h);
  }
  skips.pop();
  for (let i = 1; i < widths.length; i++) {
    const inC = widths[widths.length - i];
    const outC = widths[widths.length - i - 1];
    b.group(`up${i}`, () => {
      const up = b.add('ConvTranspose2d', `up${i}.up`, { out_channels: Math.floor(inC / 2), kernel_size: 2, stride: 2, bias: true }, { x: h });
      const cat = b.add('Concat', `up${i}.cat`, { order: 'skip_first', pad_to_match: true }, { x: up, skip: skips.pop()! });
      h = b.add('DoubleConv', `up${i}.conv`, { out_channels: outC }, { x: cat });
    });
  }
  h = b.add('Conv2d', 'outc.conv', { out_channels: k.n_classes, kernel_size: 1, stride: 1, padding: 0, bias: true }, { x: h });
  b.add('Output', 'output', {}, { x: h });
  return b.build(`unet-${widths.join('-')}`, `milesial UNet(n_channels=${k.n_channels}, n_classes=${k.n_classes}, bilinear=False)`);
}

export const vanillaTemplate = defineTemplate({
  id: 'vanilla',
  label: 'Classic UNet',
  description: 'The original UNet for segmentation as milesial/Pytorch-UNet builds it (transposed-conv upsampling), with the widths of its levels configurable.',
  schema: VanillaKwargs,
  defaults: { label: 'milesial/Pytorch-UNet (3 → 2 channels, 256×256)', kwargs: { n_channels: 3, n_classes: 2, widths: [64, 128, 256, 512, 1024], image_size: 256 } },
  presets: [],
  formFields: ['n_channels', 'n_classes', 'widths', 'image_size'],
  build: vanilla,
});
