/**
 * The source files whose declarations generated modules reuse: block kernels and their helpers,
 * and the runtime's weight loading. Paths are relative to the repository root; the browser build
 * hands the same texts in through Vite `?raw` imports, Node reads them from disk.
 */
export const SOURCE_FILES = [
  'blocks/types.ts',
  'blocks/ops.ts',
  'blocks/defs/io.ts',
  'blocks/defs/timestep.ts',
  'blocks/defs/layers.ts',
  'blocks/defs/resblock.ts',
  'blocks/defs/attention.ts',
  'blocks/defs/resample.ts',
  'blocks/defs/doubleconv.ts',
  'runtime/rng.ts',
  'runtime/safetensors.ts',
  'runtime/weights.ts',
] as const;

export type SourceTexts = Readonly<Record<(typeof SOURCE_FILES)[number], string>>;
