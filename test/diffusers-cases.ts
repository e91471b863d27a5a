/**
 * The diffusers `UNet2DModel` parity cases of test/reference/diffusers (made by make_reference.py
 * with the real diffusers code) and one runner for them, shared by the test files that run them on
 * tfjs's cpu and wasm (diffusers.test.ts) and webgpu (webgpu.test.ts) backends: a case runs on
 * whatever backend is current.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { diffusersUNet2D } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { closeness, nchwToNhwc, readSafetensors, REFERENCE, type Closeness } from './util';

export const DIFFUSERS_DIR = `${REFERENCE}diffusers/`;

export interface DiffusersCase {
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly image_size: number;
  readonly num_parameters: number;
  readonly num_state_dict_tensors: number;
  readonly state_dict_sha256: string;
}

/** Every `df-*.json` case, by name. */
export const DIFFUSERS_CASES: readonly DiffusersCase[] = readdirSync(DIFFUSERS_DIR)
  .filter((f) => /^df-.*\.json$/.test(f))
  .sort()
  .map((f) => JSON.parse(readFileSync(`${DIFFUSERS_DIR}${f}`, 'utf8')) as DiffusersCase);

/**
 * Reference cases the template refuses, with the keys its one error must name (none today: df-learned's
 * learned time embedding, center_input_sample and act_fn "mish" are supported). Parity runs the rest.
 */
export const DIFFUSERS_UNSUPPORTED: Readonly<Record<string, readonly string[]>> = {};

/** The state_dict part of a case's file (its `io.*` tensors are the inputs and the output). */
export function weightsOnly(file: SafetensorsFile): SafetensorsFile {
  return { metadata: file.metadata, tensors: new Map([...file.tensors].filter(([k]) => !k.startsWith('io.'))) };
}

/** A case's inputs as tfjs tensors on the current backend, by input role (x in NHWC). */
export function caseInputs(file: SafetensorsFile): Record<string, tf.Tensor> {
  const xT = file.tensors.get('io.x');
  const tT = file.tensors.get('io.timesteps');
  if (!xT || !tT) throw new Error('a diffusers case needs io.x and io.timesteps');
  const yT = file.tensors.get('io.y');
  return {
    x: tf.tidy(() => nchwToNhwc(tf.tensor(toFloat32(xT), [...xT.shape]))),
    timesteps: tf.tensor1d(toFloat32(tT)),
    ...(yT ? { y: tf.tensor1d(toFloat32(yT)) } : {}),
  };
}

export interface CaseOutput {
  /** Our `out`, NCHW like the reference. */
  readonly got: Float32Array;
  readonly shape: readonly number[];
  /** diffusers' `io.out`. */
  readonly ref: Float32Array;
  readonly refShape: readonly number[];
}

/** Reads `out` (NHWC) back as NCHW host data and pairs it with the case file's `io.out`. */
export async function againstReference(out: tf.Tensor, file: SafetensorsFile): Promise<CaseOutput> {
  const refT = file.tensors.get('io.out');
  if (!refT) throw new Error('a diffusers case needs io.out');
  const nchw = tf.transpose(out, [0, 3, 1, 2]);
  const got = (await nchw.data()) as Float32Array;
  const shape = nchw.shape;
  nchw.dispose();
  return { got, shape, ref: toFloat32(refT), refShape: refT.shape };
}

/**
 * Runs a case through the template's graph and the interpreter with the reference weights on the
 * current tfjs backend, and frees everything it made.
 */
export async function runDiffusersCase(c: DiffusersCase): Promise<CaseOutput> {
  const file = readSafetensors(`${DIFFUSERS_DIR}${c.name}.safetensors`);
  const plan = planGraph(diffusersUNet2D(c.config, c.image_size));
  const weights = loadWeights(plan, weightsOnly(file), `${c.name}.safetensors`);
  const inputs = caseInputs(file);
  try {
    const { out } = runGraph(plan, weights, inputs);
    try {
      return await againstReference(out, file);
    } finally {
      out.dispose();
    }
  } finally {
    tf.dispose(Object.values(inputs));
    disposeWeights(weights);
  }
}

/**
 * Asserts `|got − ref| ≤ atol + rtol·|ref|` everywhere, same shape, and a reference with a real
 * signal (max |ref| > 1); returns the closeness for the caller's own checks.
 */
export function expectMatches(o: CaseOutput, atol: number, rtol: number): Closeness {
  expect(o.shape).toEqual(o.refShape);
  const r = closeness(o.got, o.ref, atol, rtol);
  expect(r.ok, `max |d| ${r.maxAbs.toExponential(2)}, ${r.worst.toFixed(2)}× tolerance`).toBe(true);
  expect(Math.max(...Array.from(o.ref, Math.abs))).toBeGreaterThan(1);
  return r;
}
