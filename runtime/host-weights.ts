/**
 * Weights kept in host memory and put on the backend one block at a time, for models whose weights
 * do not fit beside their activations in the backend's memory. tfjs's wasm backend has one 4 GB heap,
 * and Stable Diffusion 1.x's UNet alone is 3.4 GB in float32: resident, its forward at 64×64 latents
 * aborts for lack of memory (`npm run bench` shows both). Here each `get` makes a fresh tensor from
 * host memory; the interpreter calls it inside the block's own `tf.tidy`, which frees it when the block
 * returns, so the backend holds one block's weights at a time. The price is one host→backend copy of
 * every weight per forward (measured beside the resident weights in the bench).
 *
 * Only for the interpreter (`runGraph`): a `get` outside a `tf.tidy` hands back a tensor the caller
 * must dispose.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExpectedWeight } from '../graph/weights';
import { tfjsShape } from '../weights/pytorch';
import type { WeightReader } from './interpreter';

interface HostTensor {
  readonly values: Float32Array;
  /** tfjs's shape (the values are in tfjs's layout already). */
  readonly shape: readonly number[];
}

export class HostWeights implements WeightReader {
  private readonly tensors = new Map<string, HostTensor>();

  /** Bytes held on the host. */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.values.byteLength;
    return n;
  }

  get size(): number {
    return this.tensors.size;
  }

  set(key: string, values: Float32Array, shape: readonly number[]): void {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== values.length) throw new Error(`weight "${key}": ${values.length} values for shape [${shape.join(', ')}]`);
    this.tensors.set(key, { values, shape: [...shape] });
  }

  get(key: string): tf.Tensor | undefined {
    const t = this.tensors.get(key);
    return t ? tf.tensor(t.values, [...t.shape], 'float32') : undefined;
  }

  /** Copies resident tensors to the host (tfjs layout kept), one at a time. */
  static async fromTensors(store: ReadonlyMap<string, tf.Tensor>): Promise<HostWeights> {
    const host = new HostWeights();
    for (const [key, t] of store) host.set(key, Float32Array.from(await t.data()), t.shape);
    return host;
  }
}

/**
 * Random weights on the host for speed and memory measurements: independent values, uniform with
 * the spread of each weight's PyTorch initialiser (constants stay constants). Not PyTorch's values
 * (`randomWeights` makes those, on the backend): independent draws need no layout conversion, and
 * a xorshift fill makes Stable Diffusion's 860M values in seconds rather than a minute.
 */
export function randomHostWeights(expected: readonly ExpectedWeight[], seed: number): HostWeights {
  const host = new HostWeights();
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (const w of expected) {
    const shape = tfjsShape(w.shape, w.layout);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const init = w.init;
    if (init.kind === 'const') values.fill(init.value);
    else {
      // A uniform on [-b, b] has standard deviation b/√3.
      const bound = init.kind === 'uniform' ? init.bound : init.std * Math.sqrt(3);
      for (let i = 0; i < values.length; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        values[i] = ((s >>> 0) / 4294967296 * 2 - 1) * bound;
      }
    }
    host.set(w.fullKey, values, shape);
  }
  return host;
}
