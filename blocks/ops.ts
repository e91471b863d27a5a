/**
 * Shared tfjs building blocks of the kernels (NHWC). Every function here is self-contained: it
 * uses `tf` and the other functions in this file only, so the code generator can copy the ones a
 * graph needs into an exported module.
 */
import * as tf from '@tensorflow/tfjs-core';

/** SiLU / swish: `x · σ(x)`. */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * GroupNorm over NHWC, statistics in float32 with biased variance (PyTorch's `GroupNorm`; tfjs has
 * none). Two-pass like PyTorch: the group mean first, then the mean of squared deviations.
 * Shaped for speed on tfjs-wasm, where a broadcast over a middle axis or a reduction over
 * non-trailing axes is several times slower than a trailing-vector broadcast or a 2-D matMul:
 * statistics are per-channel means (a global average pool) averaged over each
 * group's channels, and every full-size op broadcasts a `[b, 1, 1, C]` vector.
 */
export function groupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
): tf.Tensor4D {
  return groupNormAct(x, gamma, beta, groups, eps, {});
}

/** What {@link groupNormAct} does around the normalisation; every field is per sample and channel. */
export interface NormActOptions {
  /** `[b, 1, 1, C]` added to x before the norm: `GN(x + add)` (a ResBlock's timestep embedding). */
  readonly add?: tf.Tensor4D;
  /** `[b, 1, 1, C]` FiLM after the norm: `GN(x)·(1 + scale) + shift`. */
  readonly scale?: tf.Tensor4D;
  readonly shift?: tf.Tensor4D;
  /** SiLU on the result. */
  readonly silu?: boolean;
}

/**
 * `silu?(GN(x + add)·(1 + scale) + shift)` with every per-channel factor folded into one
 * `[b, 1, 1, C]` multiplier and one offset, so the full-size work is the deviation, its square, one
 * multiply, one add (and SiLU's two ops). The added vector never becomes a full-size tensor: a
 * per-channel constant only moves the group mean, so `x + add − mean(x + add)` is `x − (mean(x) +
 * groupMean(add) − add)`. Same statistics as {@link groupNorm} (two-pass, biased, float32).
 */
export function groupNormAct(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
  o: NormActOptions,
): tf.Tensor4D {
  const c = x.shape[3];
  const xf: tf.Tensor4D = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  let mean = groupMean(xf, groups);
  if (o.add) mean = tf.sub(tf.add(mean, groupMeanOfVector(o.add, groups)), o.add);
  const d = tf.sub(xf, mean);
  const variance = groupMean(tf.square(d) as tf.Tensor4D, groups);
  let mul: tf.Tensor4D = tf.mul(tf.rsqrt(tf.add(variance, eps)), tf.reshape(gamma, [1, 1, 1, c]));
  let off: tf.Tensor4D = tf.reshape(beta, [1, 1, 1, c]);
  if (o.scale) {
    const s1 = tf.add(o.scale, 1);
    mul = tf.mul(mul, s1);
    off = tf.mul(off, s1);
  }
  if (o.shift) off = tf.add(off, o.shift);
  const y: tf.Tensor4D = tf.add(tf.mul(d, mul), off);
  return o.silu ? silu(y) : y;
}

/** The group means of a `[b, 1, 1, C]` vector, repeated per channel: `[b, 1, 1, C]`. */
export function groupMeanOfVector(v: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, , , c] = v.shape;
  const perGroup = tf.mean(tf.reshape(v, [b, groups, c / groups]), 2, true);
  return tf.reshape(tf.tile(perGroup, [1, 1, c / groups]), [b, 1, 1, c]);
}

/** Mean over the pixels and the channels of each group, repeated per channel: `[b, 1, 1, C]`. */
export function groupMean(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  // A global average pool is the per-channel mean; on wasm it is XNNPACK's pooling, ~5× faster than tf.mean.
  const perChannel = tf.avgPool(x, [h, w], 1, 'valid');
  const perGroup = tf.mean(tf.reshape(perChannel, [b, groups, c / groups]), 2, true); // [b, groups, 1]
  return tf.reshape(tf.tile(perGroup, [1, 1, c / groups]), [b, 1, 1, c]);
}

/** Conv2d with PyTorch's symmetric integer padding; `filter` is `[kh, kw, in, out]`. */
export function conv2dPt(
  x: tf.Tensor4D,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  stride: number,
  padding: number,
): tf.Tensor4D {
  const f = filter as tf.Tensor4D;
  // 'valid' when there is no padding; otherwise explicit symmetric padding. (tfjs's 'same' pads
  // (0, 1) for a stride-2 conv on even sizes, which is not what PyTorch computes.)
  const pad: 'valid' | number = padding === 0 ? 'valid' : padding;
  if (bias === null) return tf.conv2d(x, f, stride, pad);
  return tf.fused.conv2d({ x, filter: f, strides: stride, pad, bias });
}

/** A linear layer on the last axis; `weight` is `[in, out]`. */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor | null): tf.Tensor2D {
  const w = weight as tf.Tensor2D;
  if (bias === null) return tf.matMul(x, w);
  return tf.fused.matMul({ a: x, b: w, bias }) as tf.Tensor2D;
}

/** 2×2 average pooling, stride 2 (guided-diffusion's `Downsample(use_conv=False)`). */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 2, 2, 'valid');
}

/** Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2, mode="nearest")`). */
export function upsampleNearest2(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  // Without corner alignment or half-pixel centres, tfjs picks source pixel floor(dst / 2): PyTorch's rule.
  return tf.image.resizeNearestNeighbor(x, [h * 2, w * 2], false, false);
}

/** NHWC → NCHW, for traces (PyTorch's layout). */
export function toNCHW(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [0, 3, 1, 2]);
}
