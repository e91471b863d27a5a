/**
 * Weights by PyTorch key: strict loading from a state_dict (like `load_state_dict(strict=True)`),
 * layout conversion to tfjs, and PyTorch-default random initialisation.
 *
 * The functions below the marker are self-contained (tf, Rng and each other only): the code
 * generator copies them into exported modules, so the app and the export load weights identically.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightInit, WeightLayout, WeightSpec } from '../blocks/types';
import type { Analysis } from '../graph/analyze';
import { nodeWeights } from '../graph/analyze';
import type { SafetensorsFile } from './safetensors';
import { toFloat32 } from './safetensors';
import { Rng } from './rng';
import { Cancelled } from './failure';

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

/**
 * Strict load: every key the graph needs is present with its shape, and every key in the file is
 * used. On any mismatch nothing is allocated and a `WeightLoadError` lists all of them by name.
 */
export function loadWeights(a: Analysis, file: SafetensorsFile, source = 'weights'): WeightStore {
  const expected = expectedWeights(a);
  checkStateDict(expected, new Map([...file.tensors].map(([k, t]) => [k, t.shape])), source);
  const store: WeightStore = new Map();
  try {
    for (const w of expected) {
      const t = file.tensors.get(w.fullKey)!;
      store.set(w.fullKey, tf.tidy(() => fromPyTorch(tf.tensor(toFloat32(t), [...t.shape], 'float32'), w.layout)));
    }
  } catch (e) {
    disposeWeights(store);
    throw e;
  }
  return store;
}

/** Fresh weights as PyTorch would initialise a new model (seeded). */
export function randomWeights(a: Analysis, seed = 0): WeightStore {
  const rng = new Rng(seed);
  const store: WeightStore = new Map();
  for (const w of expectedWeights(a)) {
    store.set(w.fullKey, tf.tidy(() => fromPyTorch(tf.tensor(initialValues(w.shape, w.init, rng), [...w.shape], 'float32'), w.layout)));
  }
  return store;
}

export interface PrepareOptions {
  /** Values made so far and in all (called at every pause and at the end). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Cancels: the tensors made so far are freed and a `Cancelled` error is thrown. */
  readonly signal?: AbortSignal;
  /** Milliseconds of work between pauses for the event loop (default 25; `Infinity`: never pause). */
  readonly sliceMs?: number;
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

/** Gives the event loop a turn: no 4 ms clamp (MessageChannel) where there is one. */
function pause(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      r();
    };
    ch.port2.postMessage(null);
  });
}

const CHECK_EVERY = 1 << 16;

/**
 * `randomWeights` without freezing the page: the same values bit for bit (the same `Rng` stream in
 * the same order), written straight into tfjs's layout on the host (no PyTorch-layout tensor, no
 * transpose, no second copy), pausing for the event loop every `sliceMs`, with progress and cancel.
 */
export async function randomWeightsAsync(expected: readonly ExpectedWeight[], seed: number, opts: PrepareOptions = {}): Promise<WeightStore> {
  const rng = new Rng(seed);
  const total = expected.reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0);
  const sliceMs = opts.sliceMs ?? 25;
  const store: WeightStore = new Map();
  let done = 0;
  let last = performance.now();
  const maybePause = async () => {
    if (opts.signal?.aborted) throw new Cancelled('making the weights');
    if (performance.now() - last < sliceMs) return;
    opts.onProgress?.(done, total);
    await pause();
    if (opts.signal?.aborted) throw new Cancelled('making the weights');
    last = performance.now();
  };
  try {
    for (const w of expected) {
      const n = w.shape.reduce((x, y) => x * y, 1);
      const values = new Float32Array(n);
      const init = w.init;
      if (init.kind === 'const') {
        values.fill(init.value);
        done += n;
      } else {
        // PyTorch order [A, B, C, D] (2-D and 1×1-conv1d weights as [A, B, 1, 1]) → tfjs [C, D, B, A] (`fromPyTorch`).
        const moved = w.layout !== 'same';
        const [A, B, C, D] = w.layout === 'conv2d' || w.layout === 'convT' ? w.shape : [w.shape[0], n / w.shape[0], 1, 1];
        const sb = A;
        const sd = B * A;
        const sc = D * B * A;
        let a = 0;
        let b = 0;
        let c = 0;
        let d = 0;
        let to = 0;
        for (let p = 0; p < n; ) {
          const start = p;
          const end = Math.min(n, p + CHECK_EVERY);
          for (; p < end; p++) {
            const v = init.kind === 'uniform' ? (rng.next() * 2 - 1) * init.bound : rng.normal() * init.std;
            if (!moved) {
              values[p] = v;
              continue;
            }
            values[to] = v;
            // Next PyTorch index: d fastest.
            if (++d < D) to += sd;
            else if (((d = 0), ++c < C)) to = a + b * sb + c * sc;
            else if (((c = 0), ++b < B)) to = a + b * sb;
            else {
              b = 0;
              to = ++a;
            }
          }
          done += end - start;
          await maybePause();
        }
      }
      store.set(w.fullKey, tf.tensor(values, tfjsShape(w.shape, w.layout), 'float32'));
      await maybePause();
    }
  } catch (e) {
    disposeWeights(store);
    throw e;
  }
  opts.onProgress?.(total, total);
  return store;
}

/**
 * `loadWeights` for a file already checked with `checkStateDict`, one tensor at a time with pauses,
 * progress and cancel (each tensor is converted to tfjs's layout as it is made: one copy at a time).
 */
export async function loadWeightsAsync(expected: readonly ExpectedWeight[], file: SafetensorsFile, opts: PrepareOptions = {}): Promise<WeightStore> {
  const total = expected.reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0);
  const sliceMs = opts.sliceMs ?? 25;
  const store: WeightStore = new Map();
  let done = 0;
  let last = performance.now();
  try {
    for (const w of expected) {
      if (opts.signal?.aborted) throw new Cancelled('loading the weights');
      const t = file.tensors.get(w.fullKey);
      if (!t) throw new Error(`${w.fullKey} is missing from the weights file`);
      store.set(w.fullKey, tf.tidy(() => fromPyTorch(tf.tensor(toFloat32(t), [...t.shape], 'float32'), w.layout)));
      done += w.shape.reduce((x, y) => x * y, 1);
      if (performance.now() - last >= sliceMs) {
        opts.onProgress?.(done, total);
        await pause();
        last = performance.now();
      }
    }
    if (opts.signal?.aborted) throw new Cancelled('loading the weights');
  } catch (e) {
    disposeWeights(store);
    throw e;
  }
  opts.onProgress?.(total, total);
  return store;
}

export function disposeWeights(store: WeightStore): void {
  for (const t of store.values()) t.dispose();
  store.clear();
}

// ---------------------------------------------------------------------------------------------
// Self-contained: copied into generated modules.

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

/** Values drawn like PyTorch's default initialiser for one weight. */
export function initialValues(shape: readonly number[], init: WeightInit, rng: Rng): Float32Array {
  const n = shape.reduce((x, y) => x * y, 1);
  const v = new Float32Array(n);
  if (init.kind === 'const') v.fill(init.value);
  else if (init.kind === 'uniform') for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * init.bound;
  else for (let i = 0; i < n; i++) v[i] = rng.normal() * init.std;
  return v;
}
