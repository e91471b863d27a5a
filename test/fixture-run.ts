/** Runs a shared fixture through the interpreter and compares `out` and every `act.*` with PyTorch. */
import * as tf from '@tensorflow/tfjs';
import type { Graph } from '../graph/model';
import { iddpm, vanilla } from '../graph/templates';
import { withImageSize } from '../graph/edit';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { readFileSync } from 'node:fs';
import { closeness, REFERENCE, FIXTURES, fixtureConfig, nchwToNhwc, nhwcToNchw, readSafetensors, sameShape, type Closeness } from './util';

export interface Compared extends Closeness {
  readonly key: string;
  readonly shape: readonly number[];
}

export function fixtureGraph(name: 'iddpm-small' | 'vanilla-small'): Graph {
  const c = fixtureConfig(name);
  return name === 'iddpm-small' ? iddpm(c.kwargs, c.imageSize) : vanilla(c.kwargs, c.imageSize);
}

/**
 * Where an `act.*` key of the fixtures lives among our traces: a node's own name or `name:input_x`
 * (tfjs layout), a block's internal `name.key` (already PyTorch layout), or the output of a PyTorch
 * Sequential, which is its last child in our order.
 */
function actFor(
  key: string,
  acts: Readonly<Record<string, tf.Tensor>>,
  order: readonly string[],
): { t: tf.Tensor; layout: 'tfjs' | 'torch' } | undefined {
  const names = new Set(order);
  const node = key.split(':')[0];
  if (acts[key]) return { t: acts[key], layout: names.has(node) ? 'tfjs' : 'torch' };
  if (key === 'emb') {
    const t = acts['label_emb'] ?? acts['time_embed'];
    return t ? { t, layout: 'tfjs' } : undefined;
  }
  const children = order.filter((n) => n.startsWith(`${key}.`));
  return children.length > 0 ? { t: acts[children[children.length - 1]], layout: 'tfjs' } : undefined;
}

export async function compareFixture(
  name: 'iddpm-small' | 'vanilla-small',
  ioFile: string,
  tol: { atol: number; rtol: number; outOnly?: boolean },
): Promise<Compared[]> {
  const io = readSafetensors(`${FIXTURES}${name}/${ioFile}`);
  const xT = io.tensors.get('x')!;
  let graph = fixtureGraph(name);
  graph = withImageSize(graph, xT.shape[2], xT.shape[3]);
  const plan = planGraph(graph);
  const weights = loadWeights(plan, readSafetensors(`${FIXTURES}${name}/weights.safetensors`), 'weights.safetensors');
  const results: Compared[] = [];
  try {
    const x = tf.tidy(() => nchwToNhwc(tf.tensor(toFloat32(xT), [...xT.shape])));
    const ts = io.tensors.get('timesteps');
    const timesteps = ts ? tf.tensor1d(toFloat32(ts)) : undefined;
    const r = runGraph(plan, weights, { x, ...(timesteps ? { timesteps } : {}) }, { trace: !tol.outOnly });
    const order = plan.order.map((id) => plan.info.get(id)!.node.name);
    for (const [key, ref] of io.tensors) {
      const isAct = key.startsWith('act.');
      if (key !== 'out' && !(isAct && !tol.outOnly)) continue;
      const found = key === 'out' ? { t: r.out, layout: 'tfjs' as const } : actFor(key.slice(4), r.acts, order);
      if (!found) throw new Error(`no trace for ${key}`);
      const torchLayout = found.layout === 'tfjs' && found.t.rank === 4 ? nhwcToNchw(found.t) : found.t;
      const shape = torchLayout.shape;
      if (!sameShape(shape, ref.shape)) throw new Error(`${key}: shape [${shape.join(', ')}] vs reference [${ref.shape.join(', ')}]`);
      const c = closeness(await torchLayout.data(), toFloat32(ref), tol.atol, tol.rtol);
      results.push({ key, shape, ...c });
      if (torchLayout !== found.t) torchLayout.dispose();
    }
    x.dispose();
    timesteps?.dispose();
    tf.dispose([r.out, ...Object.values(r.acts)]);
  } finally {
    disposeWeights(weights);
  }
  return results;
}


export const REFERENCE_CASES = ['guided-headch', 'guided-neworder', 'guided-updown', 'guided-classcond', 'guided-halfmult'] as const;

/** The weights part of a reference file (its `io.*` tensors are the inputs and output). */
function weightsOnly(file: SafetensorsFile): SafetensorsFile {
  return { metadata: file.metadata, tensors: new Map([...file.tensors].filter(([k]) => !k.startsWith('io.'))) };
}

export async function referenceOut(name: (typeof REFERENCE_CASES)[number]): Promise<{ got: Float32Array; ref: Float32Array; shape: readonly number[] }> {
  const meta = JSON.parse(readFileSync(`${REFERENCE}${name}.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number };
  const file = readSafetensors(`${REFERENCE}${name}.safetensors`);
  const plan = planGraph(iddpm(meta.kwargs, meta.image_size));
  const weights = loadWeights(plan, weightsOnly(file), `${name}.safetensors`);
  const xT = file.tensors.get('io.x')!;
  const x = tf.tidy(() => nchwToNhwc(tf.tensor(toFloat32(xT), [...xT.shape])));
  const t = tf.tensor1d(toFloat32(file.tensors.get('io.timesteps')!));
  const yT = file.tensors.get('io.y');
  const y = yT ? tf.tensor1d(toFloat32(yT)) : undefined;
  const { out } = runGraph(plan, weights, { x, timesteps: t, ...(y ? { y } : {}) });
  const nchw = tf.transpose(out, [0, 3, 1, 2]);
  const got = (await nchw.data()) as Float32Array;
  const refT = file.tensors.get('io.out')!;
  tf.dispose([x, t, out, nchw, ...(y ? [y] : [])]);
  disposeWeights(weights);
  return { got, ref: toFloat32(refT), shape: refT.shape };
}

