/**
 * Weights by PyTorch key: strict loading from a state_dict (like `load_state_dict(strict=True)`),
 * layout conversion to tfjs, and PyTorch-default random initialisation.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightLayout, WeightSpec } from '../blocks/types';
import type { Analysis } from '../graph/analyze';
import { nodeWeights } from '../graph/analyze';
import type { SafetensorsFile, SafetensorsTensor } from './safetensors';
import { toFloat32 } from './safetensors';
import { Rng } from './rng';

/** tfjs tensors (already in tfjs layout) by full PyTorch key. */
export type WeightStore = Map<string, tf.Tensor>;

export interface ExpectedWeight extends WeightSpec {
  /** `${node name}.${key}` */
  readonly fullKey: string;
  readonly node: string;
}

/** Every weight the graph owns, in graph order. */
export function expectedWeights(a: Analysis): ExpectedWeight[] {
  const out: ExpectedWeight[] = [];
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    for (const w of nodeWeights(inf)) out.push({ ...w, fullKey: `${inf.node.name}.${w.key}`, node: inf.node.name });
  }
  return out;
}

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
    super(WeightLoadError.describe(missing, unexpected, mismatched, source));
  }

  static describe(missing: readonly string[], unexpected: readonly string[], mismatched: readonly ShapeMismatch[], source: string): string {
    const lines = [`${source} does not match the graph:`];
    const list = (title: string, items: readonly string[]) => {
      if (items.length === 0) return;
      lines.push(`  ${title} (${items.length}):`);
      for (const k of items.slice(0, 20)) lines.push(`    ${k}`);
      if (items.length > 20) lines.push(`    … and ${items.length - 20} more`);
    };
    list('missing keys', missing);
    list('unexpected keys', unexpected);
    list(
      'shape mismatches',
      mismatched.map((m) => `${m.key}: the graph needs [${m.expected.join(', ')}], the file has [${m.got.join(', ')}]`),
    );
    return lines.join('\n');
  }
}

/** PyTorch layout → tfjs layout. */
export function toTfjs(values: Float32Array, shape: readonly number[], layout: WeightLayout): tf.Tensor {
  switch (layout) {
    case 'conv2d':
      return tf.tidy(() => tf.transpose(tf.tensor4d(values, shape as [number, number, number, number]), [2, 3, 1, 0]));
    case 'convT':
      return tf.tidy(() => tf.transpose(tf.tensor4d(values, shape as [number, number, number, number]), [2, 3, 1, 0]));
    case 'linear':
      return tf.tidy(() => tf.transpose(tf.tensor2d(values, shape as [number, number])));
    case 'conv1d':
      return tf.tidy(() => tf.transpose(tf.tensor2d(values, [shape[0], shape[1]])));
    case 'same':
      return tf.tensor(values, [...shape], 'float32');
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Strict load: every key the graph needs is present with its shape, and every key in the file is
 * used. On any mismatch nothing is allocated and a `WeightLoadError` lists all of them by name.
 */
export function loadWeights(a: Analysis, file: SafetensorsFile, source = 'weights'): WeightStore {
  const expected = expectedWeights(a);
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  const wanted = new Set<string>();
  for (const w of expected) {
    wanted.add(w.fullKey);
    const t = file.tensors.get(w.fullKey);
    if (!t) missing.push(w.fullKey);
    else if (!sameShape(t.shape, w.shape)) mismatched.push({ key: w.fullKey, expected: w.shape, got: t.shape });
  }
  const unexpected = [...file.tensors.keys()].filter((k) => !wanted.has(k));
  if (missing.length + unexpected.length + mismatched.length > 0) throw new WeightLoadError(missing, unexpected, mismatched, source);
  const store: WeightStore = new Map();
  try {
    for (const w of expected) store.set(w.fullKey, tensorFor(file.tensors.get(w.fullKey)!, w));
  } catch (e) {
    disposeWeights(store);
    throw e;
  }
  return store;
}

function tensorFor(t: SafetensorsTensor, w: ExpectedWeight): tf.Tensor {
  return toTfjs(toFloat32(t), t.shape, w.layout);
}

/** Fresh weights as PyTorch would initialise a new model (seeded). */
export function randomWeights(a: Analysis, seed = 0): WeightStore {
  const rng = new Rng(seed);
  const store: WeightStore = new Map();
  for (const w of expectedWeights(a)) {
    const n = w.shape.reduce((x, y) => x * y, 1);
    const v = new Float32Array(n);
    const init = w.init;
    if (init.kind === 'const') v.fill(init.value);
    else if (init.kind === 'uniform') for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * init.bound;
    else for (let i = 0; i < n; i++) v[i] = rng.normal() * init.std;
    store.set(w.fullKey, toTfjs(v, w.shape, w.layout));
  }
  return store;
}

export function disposeWeights(store: WeightStore): void {
  for (const t of store.values()) t.dispose();
  store.clear();
}
