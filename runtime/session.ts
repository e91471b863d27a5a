/**
 * The runtime panel's logic, framework-free: it runs the generated module (the text "Download .ts"
 * gives, transpiled) on the active tfjs backend, keeps weights across edits that keep their keys
 * and shapes, times first and steady-state runs, probes a node's output and profiles each block
 * (through the interpreter, which runs the same kernels), and samples with DDPM.
 */
import * as tf from '@tensorflow/tfjs';
import type { Graph } from '../graph/model';
import type { Analysis } from '../graph/analyze';
import { planGraph, runGraph, type GraphInputs } from './interpreter';
import { checkStateDict, expectedWeights, fromPyTorch, initialValues, WeightLoadError, type WeightStore } from './weights';
import { parseSafetensors, toFloat32 } from './safetensors';
import { Rng } from './rng';
import { instantiate, type GeneratedClass, type GeneratedModel } from '../codegen/instantiate';
import { makeDiffusion, sample, type ScheduleName } from './diffusion';

export type WeightSource = { readonly kind: 'random'; readonly seed: number } | { readonly kind: 'file'; readonly name: string; readonly bytes: Uint8Array };

export interface TensorStats {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
}

export interface RunReport {
  /** Output NHWC, owned by the caller. */
  readonly out: tf.Tensor4D;
  readonly ms: number;
  /** The first run after a new module, backend or weights (shader compilation included). */
  readonly first: boolean;
  readonly stats: TensorStats;
}

/** Inputs read from a `.safetensors` file like the CLI's: `x` NCHW, `timesteps` and `y` per sample. */
export interface FileInputs {
  readonly x: { readonly data: Float32Array; readonly shape: readonly [number, number, number, number] };
  readonly timesteps?: Float32Array;
  readonly y?: Float32Array;
}

export interface RunInputs {
  /** When given, used instead of noise / image, timestep and label. */
  readonly file?: FileInputs;
  readonly batch: number;
  readonly noiseSeed: number;
  /** An image already resized and normalised to the input shape (C×H×W, values in [-1, 1]), used instead of noise. */
  readonly image?: Float32Array;
  readonly timestep: number;
  readonly label: number;
}

export async function stats(t: tf.Tensor): Promise<TensorStats> {
  const { mean, variance } = tf.moments(t);
  const lo = tf.min(t);
  const hi = tf.max(t);
  const [mn, mx, m, v] = await Promise.all([lo.data(), hi.data(), mean.data(), variance.data()]);
  tf.dispose([mean, variance, lo, hi]);
  return { min: mn[0], max: mx[0], mean: m[0], std: Math.sqrt(v[0]) };
}

const signature = (a: Analysis) =>
  expectedWeights(a)
    .map((w) => `${w.fullKey}:${w.shape.join('x')}`)
    .join('\n');

export class RuntimeSession {
  private cls: GeneratedClass | null = null;
  private model: GeneratedModel | null = null;
  private plan: Analysis | null = null;
  private inputsOrder: readonly ('x' | 'timesteps' | 'y')[] = [];
  /** PyTorch-layout weights by state_dict key (the source of truth across edits). */
  private stateDict = new Map<string, tf.Tensor>();
  private weightSig = '';
  private interpreterWeights: WeightStore | null = null;
  private fresh = true;
  private times: number[] = [];
  source: WeightSource = { kind: 'random', seed: 0 };
  /** Set when the loaded file did not fit the graph (the model then runs with random weights). */
  mismatch: WeightLoadError | null = null;

  /** A new module for `graph` (its JS from the code worker). Keeps weights when keys and shapes are unchanged. */
  setModule(graph: Graph, js: string, className: string, inputs: readonly ('x' | 'timesteps' | 'y')[]): void {
    const plan = planGraph(graph);
    const cls = instantiate(js, className, tf);
    this.disposeModel();
    this.cls = cls;
    this.plan = plan;
    this.inputsOrder = inputs;
    const sig = signature(plan);
    if (sig !== this.weightSig) {
      this.weightSig = sig;
      this.rebuildStateDict();
    }
    this.instantiateModel();
  }

  /** Random PyTorch-default weights, or a `.safetensors` state_dict (strict; a mismatch is reported and random weights used). */
  setWeights(source: WeightSource): void {
    this.source = source;
    if (this.plan) {
      this.rebuildStateDict();
      this.disposeModel();
      this.instantiateModel();
    }
  }

  private rebuildStateDict(): void {
    tf.dispose([...this.stateDict.values()]);
    this.stateDict.clear();
    this.mismatch = null;
    const expected = expectedWeights(this.plan!);
    const src = this.source;
    if (src.kind === 'file') {
      try {
        const file = parseSafetensors(src.bytes, { source: src.name });
        checkStateDict(expected, new Map([...file.tensors].map(([k, t]) => [k, t.shape])), src.name);
        for (const w of expected) {
          const t = file.tensors.get(w.fullKey)!;
          this.stateDict.set(w.fullKey, tf.tensor(toFloat32(t), [...t.shape], 'float32'));
        }
        return;
      } catch (e) {
        if (!(e instanceof WeightLoadError)) throw e;
        this.mismatch = e;
      }
    }
    const rng = new Rng(src.kind === 'random' ? src.seed : 0);
    for (const w of expected) this.stateDict.set(w.fullKey, tf.tensor(initialValues(w.shape, w.init, rng), [...w.shape], 'float32'));
  }

  private instantiateModel(): void {
    this.model = this.cls!.fromTensors(Object.fromEntries(this.stateDict));
    this.fresh = true;
    this.times = [];
  }

  private disposeModel(): void {
    this.model?.dispose();
    this.model = null;
    if (this.interpreterWeights) tf.dispose([...this.interpreterWeights.values()]);
    this.interpreterWeights = null;
  }

  /** Call after switching backends: the next run counts as a first run. */
  backendChanged(): void {
    if (!this.cls || !this.plan) return;
    // Tensors made on the old backend move lazily; recreating them keeps the timing honest.
    this.disposeModel();
    this.instantiateModel();
  }

  get ready(): boolean {
    return this.model !== null;
  }

  private inputShape(): [number, number, number] {
    const x = [...this.plan!.info.values()].find((i) => i.def.io === 'x');
    const d = x!.out!.dims;
    return [d[1], d[2], d[0]];
  }

  private makeInputs(r: RunInputs): { x: tf.Tensor4D; timesteps: tf.Tensor1D; y: tf.Tensor1D } {
    const [h, w, c] = this.inputShape();
    if (r.file) {
      const [b, fc, fh, fw] = r.file.x.shape;
      if (fc !== c || fh !== h || fw !== w) throw new Error(`the inputs file's x is ${fc}×${fh}×${fw}, the graph takes ${c}×${h}×${w}`);
      const f = r.file;
      return {
        x: tf.tidy(() => tf.transpose(tf.tensor4d(f.x.data, [b, fc, fh, fw]), [0, 2, 3, 1])),
        timesteps: f.timesteps ? tf.tensor1d(f.timesteps) : (tf.fill([b], r.timestep) as tf.Tensor1D),
        y: f.y ? tf.tensor1d(f.y) : (tf.fill([b], r.label) as tf.Tensor1D),
      };
    }
    const x = r.image
      ? (tf.tidy(() => tf.tile(tf.transpose(tf.tensor3d(r.image!, [c, h, w]), [1, 2, 0]).expandDims(0), [r.batch, 1, 1, 1])) as tf.Tensor4D)
      : (tf.randomNormal([r.batch, h, w, c], 0, 1, 'float32', r.noiseSeed) as tf.Tensor4D);
    return { x, timesteps: tf.fill([r.batch], r.timestep) as tf.Tensor1D, y: tf.fill([r.batch], r.label) as tf.Tensor1D };
  }

  /** One forward pass of the generated module. */
  async run(r: RunInputs): Promise<RunReport> {
    if (!this.model) throw new Error('no model yet: the graph must be valid and generated first');
    const ins = this.makeInputs(r);
    const first = this.fresh;
    const t0 = performance.now();
    let out: tf.Tensor4D;
    try {
      out = this.model.forward(...this.inputsOrder.map((k) => ins[k]));
      await out.data(); // wait for the GPU: the time includes the readback
    } finally {
      tf.dispose([ins.x, ins.timesteps, ins.y]);
    }
    const ms = performance.now() - t0;
    this.fresh = false;
    if (!first) this.times = [...this.times.slice(-19), ms];
    return { out, ms, first, stats: await stats(out) };
  }

  /** Median of the last (up to 20) runs after the first. */
  get steadyMs(): number | null {
    if (this.times.length === 0) return null;
    const s = [...this.times].sort((a, b) => a - b);
    return s[s.length >> 1];
  }

  private interpreterStore(): WeightStore {
    if (!this.interpreterWeights) {
      const store: WeightStore = new Map();
      for (const w of expectedWeights(this.plan!)) store.set(w.fullKey, tf.tidy(() => fromPyTorch(this.stateDict.get(w.fullKey)!, w.layout)));
      this.interpreterWeights = store;
    }
    return this.interpreterWeights;
  }

  private graphInputs(ins: { x: tf.Tensor4D; timesteps: tf.Tensor1D; y: tf.Tensor1D }): GraphInputs {
    return { x: ins.x, ...(this.inputsOrder.includes('timesteps') ? { timesteps: ins.timesteps } : {}), ...(this.inputsOrder.includes('y') ? { y: ins.y } : {}) };
  }

  /** A node's output (NHWC, caller-owned) and its statistics. */
  async probe(nodeName: string, r: RunInputs): Promise<{ out: tf.Tensor; stats: TensorStats }> {
    if (!this.plan) throw new Error('no model yet');
    const ins = this.makeInputs(r);
    try {
      const res = runGraph(this.plan, this.interpreterStore(), this.graphInputs(ins), { trace: true });
      const found = res.acts[nodeName];
      // Traces share tensors (a node's output is also the next one's input): keep a copy, free them all.
      const out = found ? tf.clone(found) : null;
      tf.dispose([res.out, ...Object.values(res.acts)]);
      if (!out) throw new Error(`no block named ${JSON.stringify(nodeName)}`);
      return { out, stats: await stats(out) };
    } finally {
      tf.dispose([ins.x, ins.timesteps, ins.y]);
    }
  }

  /** Time per block: the interpreter runs each block and waits for it (so each is timed alone). */
  async profile(r: RunInputs): Promise<{ name: string; type: string; ms: number }[]> {
    if (!this.plan) throw new Error('no model yet');
    const plan = this.plan;
    const store = this.interpreterStore();
    const ins = this.makeInputs(r);
    const values = new Map<string, tf.Tensor>();
    const rows: { name: string; type: string; ms: number }[] = [];
    try {
      for (const id of plan.order) {
        const inf = plan.info.get(id)!;
        const k: Record<string, tf.Tensor> = {};
        if (inf.def.io === 'x') k.x = ins.x;
        else if (inf.def.io === 'timesteps') k.x = ins.timesteps;
        else if (inf.def.io === 'y') k.x = ins.y;
        for (const [port, v] of Object.entries(inf.inputs)) k[port] = values.get(v.from)!;
        const t0 = performance.now();
        const y = tf.tidy(() => inf.def.forward(k, (key) => store.get(`${inf.node.name}.${key}`)!, inf.params));
        await y.data();
        if (!inf.def.io) rows.push({ name: inf.node.name, type: inf.def.displayName, ms: performance.now() - t0 });
        values.set(id, y);
      }
    } finally {
      const own = [...values.values()].filter((t) => t !== ins.x && t !== ins.timesteps && t !== ins.y);
      tf.dispose([...new Set(own), ins.x, ins.timesteps, ins.y]);
    }
    return rows;
  }

  /** DDPM from noise with the generated module; `onStep` sees each x_t (return false to cancel). */
  async sample(opts: {
    schedule: ScheduleName;
    trainSteps: number;
    steps: number;
    seed: number;
    label: number;
    batch: number;
    learnedSigma: boolean;
    onStep?: (done: number, total: number, x: tf.Tensor4D) => boolean | void | Promise<boolean | void>;
  }): Promise<tf.Tensor4D | null> {
    const model = this.model;
    if (!model) throw new Error('no model yet');
    const [h, w, c] = this.inputShape();
    const d = makeDiffusion(opts.schedule, opts.trainSteps, opts.steps);
    const eps = (x: tf.Tensor4D, t: tf.Tensor1D) =>
      tf.tidy(() => {
        const y = tf.fill([x.shape[0]], opts.label) as tf.Tensor1D;
        const byRole = { x, timesteps: t, y };
        return model.forward(...this.inputsOrder.map((k) => byRole[k]));
      });
    return sample(d, eps, { shape: [opts.batch, h, w, c], seed: opts.seed, learnedSigma: opts.learnedSigma, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
  }

  dispose(): void {
    this.disposeModel();
    tf.dispose([...this.stateDict.values()]);
    this.stateDict.clear();
    this.cls = null;
    this.plan = null;
  }
}
