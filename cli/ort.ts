/**
 * The CLI's native path: a graph exported to ONNX in memory (codegen/targets/onnx) and run by
 * onnxruntime-node on the CPU. onnxruntime-node is loaded by a dynamic import, so the CLI works
 * without it; `--backend ort` then says how to get it.
 */
import type * as Ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../runtime/backend-node';
import type { Graph } from '../graph/model';
import { expectedWeights } from '../graph/weights';
import { analyze } from '../graph/analyze';
import type { SafetensorsFile, SafetensorsTensor } from '../weights/safetensors';
import { initialValues } from '../weights/pytorch';
import { Rng } from '../weights/rng';
import { guidedModel, makeDiffusion, sample, type SamplerName, type ScheduleName } from '../runtime/diffusion';
import type { HostTensor } from '../runtime/inputs';

export const ORT_MISSING = '--backend ort needs the onnxruntime-node package: npm install onnxruntime-node';

type OrtModule = typeof Ort;
let loaded: Promise<OrtModule> | null = null;

/** onnxruntime-node, or a BackendError that says how to install it. */
export function loadOrt(): Promise<OrtModule> {
  loaded ??= (async () => {
    try {
      const m = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
      // The package is CommonJS: under some loaders its API sits on `default`.
      return m.InferenceSession ? m : m.default!;
    } catch (e) {
      loaded = null;
      throw new BackendError(`${ORT_MISSING} (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
  })();
  return loaded;
}

/** Whether onnxruntime-node loads here (for picking a default backend). */
export async function ortAvailable(): Promise<boolean> {
  try {
    await loadOrt();
    return true;
  } catch {
    return false;
  }
}

/**
 * Random weights as a state dict, the same values `randomWeights(plan, seed)` gives the tfjs
 * runtime (PyTorch-default initialisers drawn in graph order from one `Rng(seed)`), in PyTorch's
 * layouts: what the ONNX export reads.
 */
export function randomStateDict(graph: Graph, seed: number): SafetensorsFile {
  const rng = new Rng(seed);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const w of expectedWeights(analyze(graph))) {
    tensors.set(w.fullKey, { name: w.fullKey, dtype: 'F32', shape: w.shape, data: initialValues(w.shape, w.init, rng) });
  }
  return { tensors, metadata: {} };
}

/** One model on onnxruntime-node: inputs by role in PyTorch's layout (NCHW), output `out` NCHW. */
export class OrtModel {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    /** The model's inputs by role, in the forward's order. */
    readonly inputs: readonly string[],
  ) {}

  /** Exports `graph` with `weights` (a state dict; the export checks it strictly) and starts a session. */
  static async create(graph: Graph, weights: SafetensorsFile, threads = 0): Promise<OrtModel> {
    const ort = await loadOrt();
    const { exportOnnx } = await import('../codegen/targets/onnx/export');
    const files = exportOnnx(graph, weights);
    const bytes = files.files.find((f) => f.path === files.main)!.bytes!;
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    return new OrtModel(ort, session, files.inputs);
  }

  /** One forward pass. `y` (class labels) is fed as int64, every other input as float32. */
  async run(byRole: Readonly<Partial<Record<string, HostTensor>>>): Promise<HostTensor> {
    const feeds: Record<string, Ort.Tensor> = {};
    const missing = this.inputs.filter((r) => !byRole[r]);
    if (missing.length > 0) throw new Error(`the model needs "${missing.join('", "')}", which was not given`);
    for (const role of this.inputs) {
      const t = byRole[role]!;
      feeds[role] = role === 'y'
        ? new this.ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(Math.round(v))), [...t.shape])
        : new this.ort.Tensor('float32', t.data, [...t.shape]);
    }
    const out = (await this.session.run(feeds)).out;
    return { data: out.data as Float32Array, shape: [...out.dims] };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export interface OrtSampleOptions {
  readonly schedule: ScheduleName;
  readonly trainSteps: number;
  readonly steps: number;
  readonly seed: number;
  readonly batch: number;
  readonly learnedSigma: boolean;
  readonly sampler: SamplerName;
  readonly eta: number;
  /** The class label of every sample (when the model takes `y`). */
  readonly label: number;
  /** Classifier-free guidance: the scale and the null class label. */
  readonly guidance?: { readonly scale: number; readonly nullLabel: number };
  readonly onStep?: (done: number, total: number) => void;
}

/**
 * DDPM or DDIM from noise with the model on onnxruntime-node: the runtime's own sampler
 * (runtime/diffusion `sample`: the same x_T, step noise and update as the tfjs backends), given
 * ONNX Runtime's asynchronous run as an `AsyncEpsModel`. Returns x₀ (NHWC).
 */
export async function sampleWithOrt(model: OrtModel, imageShape: readonly [number, number, number], opts: OrtSampleOptions): Promise<tf.Tensor4D> {
  const [h, w, c] = imageShape;
  const b = opts.batch;
  const d = makeDiffusion(opts.schedule, opts.trainSteps, opts.steps);
  const takesY = model.inputs.includes('y');
  const guided = opts.guidance !== undefined && opts.guidance.scale !== 1;
  if (guided && !takesY) throw new Error('classifier-free guidance needs a model with a class label input y; this one has none');
  const fb = guided ? 2 * b : b;
  const labels = new Float32Array(fb).fill(opts.label);
  if (guided) labels.fill(opts.guidance!.nullLabel, b);

  /** The model's raw output (NHWC, batch fb) for x (NHWC, batch b) at timestep value `t`. */
  const forward = async (x: tf.Tensor4D, t: number): Promise<tf.Tensor4D> => {
    const nchw = tf.tidy(() => {
      const xt = tf.transpose(x, [0, 3, 1, 2]);
      return guided ? tf.concat([xt, xt], 0) : xt;
    });
    const xs = (await nchw.data()) as Float32Array;
    nchw.dispose();
    const ins: Record<string, HostTensor> = {
      x: { data: xs, shape: [fb, c, h, w] },
      timesteps: { data: new Float32Array(fb).fill(t), shape: [fb] },
      ...(takesY ? { y: { data: labels, shape: [fb] } } : {}),
    };
    const out = await model.run(ins);
    return tf.tidy(() => tf.transpose(tf.tensor4d(out.data, out.shape as [number, number, number, number]), [0, 2, 3, 1]));
  };

  const yCond = tf.fill([b], opts.label) as tf.Tensor1D;
  const yUncond = tf.fill([b], guided ? opts.guidance!.nullLabel : opts.label) as tf.Tensor1D;
  const eps = async (x: tf.Tensor4D, t: tf.Tensor1D): Promise<tf.Tensor4D> => {
    const out = await forward(x, (await t.data())[0]);
    if (!guided) return out;
    // The same combination as the tfjs path: guidedModel on the doubled batch's output.
    const g = tf.tidy(() => guidedModel(() => out, { y: yCond }, { y: yUncond }, opts.guidance!.scale, c)(x, t));
    out.dispose();
    return g;
  };
  try {
    const x0 = await sample(d, { async: eps }, {
      shape: [b, h, w, c],
      seed: opts.seed,
      learnedSigma: opts.learnedSigma,
      sampler: opts.sampler,
      eta: opts.eta,
      onStep: (done, total) => opts.onStep?.(done, total),
    });
    return x0!;
  } finally {
    tf.dispose([yCond, yUncond]);
  }
}

