/**
 * A PyTorch state_dict in tfjs: the strict check (like `load_state_dict(strict=True)`), the layout
 * conversion and PyTorch's default initialisers. Self-contained (tfjs-core, `Rng` and each other
 * only): the code generator copies these into exported modules, so the app and the export load
 * weights identically.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WeightInit, WeightLayout } from './types';
import type { Rng } from './rng';

export interface ShapeMismatch {
  readonly key: string;
  readonly expected: readonly number[];
  readonly got: readonly number[];
}

export class WeightLoadError extends Error {
  override name = 'WeightLoadError';
  constructor(
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
    source: string,
  ) {
    const lines = [`${source} does not match the graph:`];
    const list = (title: string, items: readonly string[]) => {
      if (items.length === 0) return;
      lines.push(`  ${title} (${items.length}):`);
      for (const k of items.slice(0, 20)) lines.push(`    ${k}`);
      if (items.length > 20) lines.push(`    … and ${items.length - 20} more`);
    };
    list('missing keys', missing);
    list('unexpected keys', unexpected);
    list('shape mismatches', mismatched.map((m) => `${m.key}: the graph needs [${m.expected.join(', ')}], the file has [${m.got.join(', ')}]`));
    super(lines.join('\n'));
  }
}

/** Throws a `WeightLoadError` unless `actual` has exactly the expected keys with the expected shapes. */
export function checkStateDict(
  expected: readonly { readonly fullKey: string; readonly shape: readonly number[] }[],
  actual: ReadonlyMap<string, readonly number[]>,
  source: string,
): void {
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const wanted = new Set<string>();
  for (const w of expected) {
    wanted.add(w.fullKey);
    const got = actual.get(w.fullKey);
    if (!got) missing.push(w.fullKey);
    else if (got.length !== w.shape.length || got.some((v, i) => v !== w.shape[i])) mismatched.push({ key: w.fullKey, expected: w.shape, got });
  }
  const unexpected = [...actual.keys()].filter((k) => !wanted.has(k));
  if (missing.length + unexpected.length + mismatched.length > 0) throw new WeightLoadError(missing, unexpected, mismatched, source);
}

/**
 * A tensor in PyTorch's layout → the tfjs layout the kernels read:
 * Conv2d `[out, in, kh, kw]` and ConvTranspose2d `[in, out, kh, kw]` → `[kh, kw, ·, ·]` (both
 * transpose(2, 3, 1, 0), no spatial flip), Linear `[out, in]` and 1×1 Conv1d `[out, in, 1]` → `[in, out]`.
 */
export function fromPyTorch(t: tf.Tensor, layout: WeightLayout): tf.Tensor {
  switch (layout) {
    case 'conv2d':
    case 'convT':
      return tf.transpose(t, [2, 3, 1, 0]);
    case 'linear':
      return tf.transpose(t);
    case 'conv1d':
      return tf.transpose(tf.reshape(t, [t.shape[0], -1]));
    case 'same':
      return tf.clone(t);
  }
}

/** The shape a weight has in tfjs's layout (what `fromPyTorch` returns). */
export function tfjsShape(shape: readonly number[], layout: WeightLayout): number[] {
  switch (layout) {
    case 'conv2d':
    case 'convT':
      return [shape[2], shape[3], shape[1], shape[0]];
    case 'linear':
      return [shape[1], shape[0]];
    case 'conv1d':
      return [shape.slice(1).reduce((x, y) => x * y, 1), shape[0]];
    case 'same':
      return [...shape];
  }
}

/** Values drawn like PyTorch's default initialiser for one weight. */
export function initialValues(shape: readonly number[], init: WeightInit, rng: Rng): Float32Array {
  const n = shape.reduce((x, y) => x * y, 1);
  const v = new Float32Array(n);
  if (init.kind === 'const') v.fill(init.value);
  else if (init.kind === 'uniform') for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * init.bound;
  else for (let i = 0; i < n; i++) v[i] = rng.normal() * init.std;
  return v;
}
