/** Test helpers: fixtures, layout conversion, tolerance checks. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { unwrapConfig } from '../graph/templates';

/** `shared/fixtures` beside the checkout (`../shared` from the repo root). */
export const FIXTURES = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
export const REFERENCE = fileURLToPath(new URL('./reference/', import.meta.url));

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(new Uint8Array(readFileSync(path)), { source: path });
}

export function fixtureConfig(name: string): { kwargs: unknown; imageSize?: number } {
  return unwrapConfig(JSON.parse(readFileSync(`${FIXTURES}${name}/config.json`, 'utf8')));
}

/** A float tensor from a safetensors entry, in its stored (PyTorch) layout. */
export function tensorOf(file: SafetensorsFile, key: string): tf.Tensor {
  const t = file.tensors.get(key);
  if (!t) throw new Error(`no tensor "${key}"`);
  return tf.tensor(toFloat32(t), [...t.shape], 'float32');
}

export const nchwToNhwc = (t: tf.Tensor): tf.Tensor4D => tf.transpose(t as tf.Tensor4D, [0, 2, 3, 1]);
export const nhwcToNchw = (t: tf.Tensor): tf.Tensor4D => tf.transpose(t as tf.Tensor4D, [0, 3, 1, 2]);

export interface Closeness {
  readonly ok: boolean;
  /** max over elements of |got − ref| / (atol + rtol·|ref|): ≤ 1 passes. */
  readonly worst: number;
  readonly maxAbs: number;
  readonly at: number;
}

/** Elementwise `|got − ref| ≤ atol + rtol·|ref|`, on host arrays (exact shapes required). */
export function closeness(got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol: number): Closeness {
  if (got.length !== ref.length) throw new Error(`length ${got.length} vs ${ref.length}`);
  let worst = 0;
  let maxAbs = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    // A NaN on either side is infinitely far: it fails `ok` and raises `maxAbs` alike.
    const d = Number.isNaN(got[i]) || Number.isNaN(ref[i]) ? Infinity : Math.abs(got[i] - ref[i]);
    const r = d === Infinity ? Infinity : d / (atol + rtol * Math.abs(ref[i]));
    if (r > worst) {
      worst = r;
      at = i;
    }
    if (d > maxAbs) maxAbs = d;
  }
  return { ok: worst <= 1, worst, maxAbs, at };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
