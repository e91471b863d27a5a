/**
 * The app's weights by PyTorch key: strict loading from a state_dict (like
 * `load_state_dict(strict=True)`) and PyTorch-default random initialisation, into tfjs tensors.
 * The parts a generated module also carries (the state-dict check, the layout conversion, the
 * initialisers) live in weights/pytorch.ts; which weights a graph owns is graph/weights.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { Analysis } from '../graph/analyze';
import { expectedWeights, type ExpectedWeight } from '../graph/weights';
import type { ParseOptions, SafetensorsEntry, SafetensorsFile, SafetensorsTensor } from '../weights/safetensors';
import { decodeTensorData, lazyTensors, parseSafetensorsHeader, toFloat32 } from '../weights/safetensors';
import { Rng } from '../weights/rng';
import { checkStateDict, fromPyTorch, initialValues, tfjsShape } from '../weights/pytorch';
import type { WeightLayout } from '../weights/types';
import { withLegacyNames } from '../weights/legacy';
import { Cancelled } from './failure';

/** tfjs tensors (already in tfjs layout) by full PyTorch key. */
export type WeightStore = Map<string, tf.Tensor>;

/**
 * Strict load: every key the graph needs is present with its shape, and every key in the file is
 * used. On any mismatch nothing is allocated and a `WeightLoadError` lists all of them by name.
 */
export function loadWeights(a: Analysis, file: SafetensorsFile, source = 'weights'): WeightStore {
  const expected = expectedWeights(a);
  // Legacy names (diffusers' old attention keys) are read as today's: weights/legacy.ts.
  const tensors = withLegacyNames(expected.map((w) => w.fullKey), file.tensors);
  checkStateDict(expected, new Map([...tensors].map(([k, t]) => [k, t.shape])), source);
  const store: WeightStore = new Map();
  try {
    for (const w of expected) {
      store.set(w.fullKey, weightTensor(file, tensors.get(w.fullKey)!, w.layout));
    }
  } catch (e) {
    disposeWeights(store);
    throw e;
  }
  return store;
}

/** The raw bytes behind a {@link lazySafetensors} file (absent on other files). */
const RAW = new WeakMap<SafetensorsFile, { readonly bytes: Uint8Array; readonly dataStart: number; readonly entries: ReadonlyMap<string, SafetensorsEntry> }>();

/**
 * A `.safetensors` held in memory, its header validated, whose tensors are decoded only when their
 * `data` is read (a fresh array on each read; nothing kept): the strict check of names and shapes
 * decodes nothing, and the loaders below never hold more than the tensor they are making. Weights
 * loaded from it go straight from the file's bytes into tfjs's layout (no F32 copy in PyTorch's
 * layout, no transpose).
 */
export function lazySafetensors(bytes: Uint8Array, opts: ParseOptions = {}): SafetensorsFile {
  const header = parseSafetensorsHeader(bytes.length, (offset, length) => bytes.subarray(offset, offset + length), opts);
  const entries = new Map<string, SafetensorsEntry>(header.entries.map((e) => [e.name, e]));
  const tensors = lazyTensors(header.entries, (e) => decodeTensorData(bytes, header.dataStart + e.begin, header.dataStart + e.end, e.dtype));
  const file: SafetensorsFile = { tensors, metadata: header.metadata };
  RAW.set(file, { bytes, dataStart: header.dataStart, entries });
  return file;
}

/**
 * Writes a weight's values, given one by one in PyTorch's order, at their places in tfjs's layout
 * (what `fromPyTorch` does, without a second copy or a transpose): PyTorch `[A, B, C, D]` (2-D and
 * 1×1-conv1d weights as `[A, B, 1, 1]`) → tfjs `[C, D, B, A]`. With layout `same` (`moved` false)
 * the places are the positions in order.
 */
class ToTfjsLayout {
  readonly moved: boolean;
  private readonly B: number;
  private readonly C: number;
  private readonly D: number;
  private readonly sb: number;
  private readonly sd: number;
  private readonly sc: number;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private to = 0;

  constructor(
    private readonly values: Float32Array,
    shape: readonly number[],
    layout: WeightLayout,
  ) {
    const n = values.length;
    this.moved = layout !== 'same' && n > 0;
    const [A, B, C, D] = layout === 'conv2d' || layout === 'convT' ? shape : [shape[0], n / (shape[0] || 1), 1, 1];
    this.B = B;
    this.C = C;
    this.D = D;
    this.sb = A;
    this.sd = B * A;
    this.sc = D * B * A;
  }

  /** Writes the next value (PyTorch order: d fastest). */
  put(v: number): void {
    if (!this.moved) {
      this.values[this.to++] = v;
      return;
    }
    this.values[this.to] = v;
    if (++this.d < this.D) this.to += this.sd;
    else if (((this.d = 0), ++this.c < this.C)) this.to = this.a + this.b * this.sb + this.c * this.sc;
    else if (((this.c = 0), ++this.b < this.B)) this.to = this.a + this.b * this.sb;
    else {
      this.b = 0;
      this.to = ++this.a;
    }
  }
}

/** Elements decoded per chunk on the way into tfjs's layout (the only buffer besides the result). */
const DECODE_CHUNK = 1 << 15;

/**
 * One weight as a tfjs tensor in tfjs's layout. From a {@link lazySafetensors} file, a float tensor
 * (F32, F16, BF16) is decoded chunk by chunk straight into its place in tfjs's layout: one array of
 * the tensor's size (which becomes the tensor's storage) plus a small chunk. Otherwise the values
 * are read and `fromPyTorch` converts them (integers must be exact in float32).
 */
function weightTensor(file: SafetensorsFile, t: SafetensorsTensor, layout: WeightLayout): tf.Tensor {
  const raw = RAW.get(file);
  const e = raw?.entries.get(t.name);
  if (!raw || !e || e.dtype === 'I32' || e.dtype === 'I64') {
    return tf.tidy(() => fromPyTorch(tf.tensor(toFloat32(t), [...t.shape], 'float32'), layout));
  }
  const shape = e.shape;
  const n = shape.reduce((x, y) => x * y, 1);
  const size = e.dtype === 'F32' ? 4 : 2;
  const start = raw.dataStart + e.begin;
  const values = new Float32Array(n);
  const walk = new ToTfjsLayout(values, shape, layout);
  for (let p = 0; p < n; p += DECODE_CHUNK) {
    const m = Math.min(DECODE_CHUNK, n - p);
    const part = decodeTensorData(raw.bytes, start + p * size, start + (p + m) * size, e.dtype) as Float32Array;
    if (!walk.moved) values.set(part, p);
    else for (let q = 0; q < m; q++) walk.put(part[q]);
  }
  return tf.tensor(values, tfjsShape(shape, layout), 'float32');
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
        const walk = new ToTfjsLayout(values, w.shape, w.layout);
        for (let p = 0; p < n; ) {
          const start = p;
          const end = Math.min(n, p + CHECK_EVERY);
          for (; p < end; p++) walk.put(init.kind === 'uniform' ? (rng.next() * 2 - 1) * init.bound : rng.normal() * init.std);
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
 * progress and cancel (each tensor is converted to tfjs's layout as it is made: one copy at a time;
 * from a {@link lazySafetensors} file, decoded straight into tfjs's layout).
 */
export async function loadWeightsAsync(expected: readonly ExpectedWeight[], file: SafetensorsFile, opts: PrepareOptions = {}): Promise<WeightStore> {
  const total = expected.reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0);
  const sliceMs = opts.sliceMs ?? 25;
  const store: WeightStore = new Map();
  let done = 0;
  let last = performance.now();
  const tensors = withLegacyNames(expected.map((w) => w.fullKey), file.tensors);
  try {
    for (const w of expected) {
      if (opts.signal?.aborted) throw new Cancelled('loading the weights');
      const t = tensors.get(w.fullKey);
      if (!t) throw new Error(`${w.fullKey} is missing from the weights file`);
      store.set(w.fullKey, weightTensor(file, t, w.layout));
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
