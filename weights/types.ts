// What a PyTorch weight is, for tfjs: its layout and its default initialiser. The lowest floor:
// blocks declare their weights with these types, and generated modules copy them. (A line
// comment, not JSDoc: a JSDoc here would be copied with the first declaration.)

/**
 * How a PyTorch tensor becomes the tfjs tensor the kernel reads (converted once, at load):
 * - `conv2d`: `[out, in, kh, kw]` → `[kh, kw, in, out]`
 * - `convT`: ConvTranspose2d `[in, out, kh, kw]` → `[kh, kw, out, in]`
 * - `linear`: `[out, in]` → `[in, out]`
 * - `conv1d`: a 1×1 Conv1d `[out, in, 1]` → `[in, out]`
 * - `same`: as stored (vectors, embeddings, counters)
 */
export type WeightLayout = 'conv2d' | 'convT' | 'linear' | 'conv1d' | 'same';

/** PyTorch's default initialisers, in distribution form. */
export type WeightInit =
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'const'; readonly value: number };
