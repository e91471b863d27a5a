/**
 * The CLI's native path: a graph exported to ONNX in memory (codegen/targets/onnx) and run by
 * onnxruntime-node on the CPU. onnxruntime-node is loaded by a dynamic import, so the CLI works
 * without it; `--backend ort` then says how to get it.
 */
import type * as Ort from 'onnxruntime-node';
import { BackendError } from '../runtime/backend-node';
import type { Graph } from '../graph/model';
import { expectedWeights } from '../graph/weights';
import { analyze } from '../graph/analyze';
import type { SafetensorsFile, SafetensorsTensor } from '../weights/safetensors';
import { initialValues } from '../weights/pytorch';
import { Rng } from '../weights/rng';
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
