/** Every block type, registered once. A type missing a declaration is a compile error. */
import type { BlockDef, ParamValues } from './types';
import { ClassLabelInput, ContextInput, ImageInput, Output, TimestepsInput } from './defs/io';
import { SpatialTransformer, Transformer2DModel } from './defs/transformer';
import { LabelEmbedding, TimeEmbedMLP, TimestepEmbedding } from './defs/timestep';
import { Add, BatchNorm2d, Concat, Conv2d, ConvTranspose2d, GroupNorm, MaxPool2d, ReLU, SiLU } from './defs/layers';
import { ResBlock } from './defs/resblock';
import { AttentionBlock } from './defs/attention';
import { Downsample, Upsample } from './defs/resample';
import { DoubleConv } from './defs/doubleconv';
import { Attention, DiffusersTimestepEmbedding, Downsample2D, LearnedTimesteps, Rescale, ResnetBlock2D, Timesteps } from './defs/diffusers';

export const BLOCK_TYPES = [
  'ImageInput',
  'TimestepsInput',
  'ClassLabelInput',
  'ContextInput',
  'Output',
  'TimestepEmbedding',
  'TimeEmbedMLP',
  'LabelEmbedding',
  'Conv2d',
  'GroupNorm',
  'SiLU',
  'ResBlock',
  'AttentionBlock',
  'Downsample',
  'Upsample',
  'Concat',
  'Add',
  'DoubleConv',
  'MaxPool2d',
  'ConvTranspose2d',
  'BatchNorm2d',
  'ReLU',
  'Timesteps',
  'DiffusersTimestepEmbedding',
  'ResnetBlock2D',
  'Attention',
  'Downsample2D',
  'LearnedTimesteps',
  'Rescale',
  'SpatialTransformer',
  'Transformer2DModel',
] as const;

export type BlockType = (typeof BLOCK_TYPES)[number];

export const BLOCKS = {
  ImageInput,
  TimestepsInput,
  ClassLabelInput,
  ContextInput,
  Output,
  TimestepEmbedding,
  TimeEmbedMLP,
  LabelEmbedding,
  Conv2d,
  GroupNorm,
  SiLU,
  ResBlock,
  AttentionBlock,
  Downsample,
  Upsample,
  Concat,
  Add,
  DoubleConv,
  MaxPool2d,
  ConvTranspose2d,
  BatchNorm2d,
  ReLU,
  Timesteps,
  DiffusersTimestepEmbedding,
  ResnetBlock2D,
  Attention,
  Downsample2D,
  LearnedTimesteps,
  Rescale,
  SpatialTransformer,
  Transformer2DModel,
} satisfies Record<BlockType, BlockDef<never>>;

export function isBlockType(t: string): t is BlockType {
  return Object.prototype.hasOwnProperty.call(BLOCKS, t);
}

/** The declaration of a type, erased to the common parameter type. */
export function blockDef(type: BlockType): BlockDef<ParamValues> {
  return BLOCKS[type] as unknown as BlockDef<ParamValues>;
}
