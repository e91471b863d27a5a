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
  const c = x.shape[3];
  const xf: tf.Tensor4D = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
  const d = tf.sub(xf, groupMean(xf, groups));
  const variance = groupMean(tf.square(d) as tf.Tensor4D, groups);
  const scale = tf.mul(tf.rsqrt(tf.add(variance, eps)), tf.reshape(gamma, [1, 1, 1, c]));
  return tf.add(tf.mul(d, scale), tf.reshape(beta, [1, 1, 1, c]));
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
