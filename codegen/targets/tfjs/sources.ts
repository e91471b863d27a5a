/**
 * The source files whose declarations generated modules reuse: block kernels and their helpers,
 * and the floor below them, weights/ (.safetensors, the state-dict check, layouts, initialisers,
 * the RNG). The order is the emitted order. Paths are relative to the repository root; the browser
 * build hands the same texts in through Vite `?raw` imports, Node reads them from disk.
 */
export const SOURCE_FILES = [
  'weights/types.ts',
  'blocks/types.ts',
  'blocks/ops.ts',
  'blocks/defs/io.ts',
  'blocks/defs/timestep.ts',
  'blocks/defs/layers.ts',
  'blocks/defs/resblock.ts',
  'blocks/defs/attention.ts',
  'blocks/defs/resample.ts',
  'blocks/defs/doubleconv.ts',
  'blocks/defs/diffusers.ts',
  'blocks/defs/transformer.ts',
  'weights/rng.ts',
  'weights/safetensors.ts',
  'weights/pytorch.ts',
] as const;

export type SourceTexts = Readonly<Record<(typeof SOURCE_FILES)[number], string>>;
