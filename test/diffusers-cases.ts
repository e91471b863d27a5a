/**
 * The diffusers `UNet2DModel` parity cases of test/reference/diffusers (made by make_reference.py
 * with the real diffusers code) and one runner for them, shared by the test files that run them on
 * tfjs's cpu and wasm (diffusers.test.ts) and webgpu (webgpu.test.ts) backends: a case runs on
 * whatever backend is current. The input reader and the graph runner serve the text-conditioned
 * cases too (test/cond-cases.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { INPUT_ROLES } from '../blocks/roles';
import type { Graph } from '../graph/model';
import { diffusersUNet2D } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { closeness, readSafetensors, REFERENCE, type Closeness } from './util';

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

/**
 * A case's inputs as tfjs tensors on the current backend, by input role: every `io.<role>` the file
 * holds (x required), converted to the role's tfjs layout (x to NHWC). Shared by the diffusers cases
 * and the text-conditioned ones (test/cond-cases.ts: `io.context`, and `io.y`).
 */
export function caseInputs(file: SafetensorsFile): Record<string, tf.Tensor> {
  if (!file.tensors.has('io.x')) throw new Error('a reference case needs io.x');
  const out: Record<string, tf.Tensor> = {};
  for (const { role, toTfjs } of INPUT_ROLES) {
    const t = file.tensors.get(`io.${role}`);
    if (!t) continue;
    out[role] = tf.tidy(() => {
      const v = tf.tensor(toFloat32(t), [...t.shape], 'float32');
      return toTfjs ? tf.transpose(v, [...toTfjs]) : v;
    });
  }
  return out;
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
 * Runs `graph` through the interpreter on the current tfjs backend with `weights` (a state_dict
 * under the graph's node names) and `file`'s `io.*` inputs, pairs its `out` with `io.out`, and frees
 * everything it made.
 */
export async function runReferenceGraph(graph: Graph, weights: SafetensorsFile, file: SafetensorsFile, source: string): Promise<CaseOutput> {
  const plan = planGraph(graph);
  const store = loadWeights(plan, weights, source);
  const inputs = caseInputs(file);
  try {
    const { out } = runGraph(plan, store, inputs);
    try {
      return await againstReference(out, file);
    } finally {
      out.dispose();
    }
  } finally {
    tf.dispose(Object.values(inputs));
    disposeWeights(store);
  }
}

/**
 * Runs a case through the template's graph and the interpreter with the reference weights on the
 * current tfjs backend, and frees everything it made.
 */
export async function runDiffusersCase(c: DiffusersCase): Promise<CaseOutput> {
  const file = readSafetensors(`${DIFFUSERS_DIR}${c.name}.safetensors`);
  return runReferenceGraph(diffusersUNet2D(c.config, c.image_size), weightsOnly(file), file, `${c.name}.safetensors`);
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
