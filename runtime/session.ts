/**
 * The runtime panel's logic, framework-free: it runs the generated module (the text "Download .ts"
 * gives, transpiled) on the active tfjs backend, keeps weights across edits that keep their keys
 * and shapes, times first and steady-state runs, probes a node's output and profiles each block
 * (through the interpreter, which runs the same kernels), and samples with DDPM or DDIM, with
 * classifier-free guidance over whatever conditional inputs the model takes (every role but x and
 * the timesteps: a class label today, a context when that role exists).
 *
 * Weights are made on demand (`prepare`, which pauses for the event loop, reports progress and can
 * be cancelled), not when a module arrives, so a model too big to run costs nothing until the user
 * asks. They are held once: one tfjs-layout tensor per weight, which the generated model (through
 * data-sharing clones) and the interpreter (probe, profile) both read. Noise comes from `Rng`, so
 * every seed, 0 included, repeats exactly.
 */
import * as tf from '@tensorflow/tfjs';
import type { Graph } from '../graph/model';
import type { Analysis } from '../graph/analyze';
import { planGraph, runGraph, runGraphSteps } from './interpreter';
import { InputsError, makeInputs, type HostTensor, type InputsFile, type ModelInput } from './inputs';
import { INPUT_ROLES, toTfjsShape, type InputRole, type InputRoleDef } from '../blocks/roles';
import { graphInputs } from '../graph/analyze';
import { disposeWeights, loadWeightsAsync, randomWeightsAsync, type PrepareOptions, type WeightStore } from './weights';
import { expectedWeights } from '../graph/weights';
import { checkStateDict, WeightLoadError } from '../weights/pytorch';
import { withLegacyNames } from '../weights/legacy';
import { parseSafetensorsHeader, toFloat32, type SafetensorsFile } from '../weights/safetensors';
import { Cancelled } from './failure';
import { instantiate, type GeneratedClass, type GeneratedModel } from '../runtime/instantiate';
import { guidedModel, makeDiffusion, sample, type ConditionalModel, type EpsModel, type SamplerName, type ScheduleName } from './diffusion';
import { lazySafetensors } from './weights';

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

export interface RunInputs {
  /** Inputs from an inputs `.safetensors` (`readInputsFile`): used where given, their batch wins. */
  readonly file?: InputsFile;
  readonly batch: number;
  /** Seed of the noise for inputs given neither by the file nor below. */
  readonly noiseSeed: number;
  /** One sample per role in PyTorch's layout, repeated over the batch (an image already resized and normalised to [-1, 1], instead of noise). */
  readonly samples?: Readonly<Partial<Record<InputRole, Float32Array>>>;
  /** One value per role for every sample (the timestep, the class label). */
  readonly values?: Readonly<Partial<Record<InputRole, number>>>;
}

export async function stats(t: tf.Tensor): Promise<TensorStats> {
  const { mean, variance } = tf.moments(t);
  const lo = tf.min(t);
  const hi = tf.max(t);
  const [mn, mx, m, v] = await Promise.all([lo.data(), hi.data(), mean.data(), variance.data()]);
  tf.dispose([mean, variance, lo, hi]);
  return { min: mn[0], max: mx[0], mean: m[0], std: Math.sqrt(v[0]) };
}

/** A short fingerprint of values, bit for bit (FNV-1a over the float32 bits): equal values, equal text. */
export function fingerprint(values: Float32Array): string {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) {
    let v = bits[i];
    for (let k = 0; k < 4; k++) {
      h = Math.imul(h ^ (v & 0xff), 0x01000193);
      v >>>= 8;
    }
  }
  return `${(h >>> 0).toString(16).padStart(8, '0')}·${values.length}`;
}

/**
 * The generated class's own constructor takes tfjs-layout weights by key (what \`fromTensors\`
 * builds after its strict check). The session calls it with clones of its own store (the same
 * data, no copy) after checking the keys and shapes itself.
 */
type ModelFromStore = new (weights: Map<string, tf.Tensor>) => GeneratedModel;

const signature = (a: Analysis) =>
  expectedWeights(a)
    .map((w) => `${w.fullKey}:${w.shape.join('x')}`)
    .join('\n');

export class RuntimeSession {
  private cls: GeneratedClass | null = null;
  private model: GeneratedModel | null = null;
  private plan: Analysis | null = null;
  /** The module's forward parameters in order (from the code generator). */
  private inputsOrder: readonly InputRole[] = [];
  /** tfjs-layout weights by state_dict key: the only copy, kept across edits that keep keys and shapes. */
  private store: WeightStore | null = null;
  private weightSig = '';
  /** Bumped whenever the weights are dropped: a preparation that started before is stale. */
  private generation = 0;
  private pending: { generation: number; done: Promise<WeightStore>; stop: AbortController } | null = null;
  private fresh = true;
  private times: number[] = [];
  /** Forward passes completed since the session began (a view can show that each run happened). */
  runCount = 0;
  source: WeightSource = { kind: 'random', seed: 0 };
  /** Set when the loaded file did not fit the graph (the model then runs with random weights). */
  mismatch: WeightLoadError | null = null;

  /** A new module for `graph` (its JS from the code worker). Keeps weights when keys and shapes are unchanged. Cheap: no weights are made here. */
  setModule(graph: Graph, js: string, className: string, inputs: readonly InputRole[]): void {
    const plan = planGraph(graph);
    const cls = instantiate(js, className, tf);
    this.disposeModel();
    this.cls = cls;
    this.plan = plan;
    this.inputsOrder = inputs;
    const sig = signature(plan);
    if (sig !== this.weightSig) {
      this.weightSig = sig;
      this.dropWeights();
      this.checkSource();
    }
  }

  /**
   * Random PyTorch-default weights, or a `.safetensors` state_dict (strict: a mismatch is reported
   * here, at once, and random weights with seed 0 are used). The tensors are made by `prepare`.
   */
  setWeights(source: WeightSource): void {
    const previous = this.source;
    this.source = source;
    this.dropWeights();
    try {
      this.checkSource();
    } catch (e) {
      // A file that is not a .safetensors at all (not one that merely does not fit): refused, and
      // the weights in use before stay the source, so later modules do not keep failing on it.
      this.source = previous;
      this.checkSource();
      throw e;
    }
  }

  /** The analysis of the current module's graph (null before the first module). */
  get analysis(): Analysis | null {
    return this.plan;
  }

  /** The weights file in use (its header parsed, tensors decoded when read), or null with random weights. */
  weightsFile(): SafetensorsFile | null {
    const src = this.source;
    // Decoded one tensor at a time as the loader reads it: never the whole file at once.
    return src.kind === 'file' ? lazySafetensors(src.bytes, { source: src.name }) : null;
  }

  private checkSource(): void {
    this.mismatch = null;
    if (!this.plan || this.source.kind !== 'file') return;
    try {
      // Names and shapes only: the values are decoded once, by `prepare`, when the weights are made.
      const bytes = this.source.bytes;
      const header = parseSafetensorsHeader(bytes.length, (offset, length) => bytes.subarray(offset, offset + length), { source: this.source.name });
      const expected = expectedWeights(this.plan);
      const shapes = withLegacyNames(expected.map((w) => w.fullKey), new Map(header.entries.map((e) => [e.name, e.shape])));
      checkStateDict(expected, shapes, this.source.name);
    } catch (e) {
      if (!(e instanceof WeightLoadError)) throw e;
      this.mismatch = e;
    }
  }

  private dropWeights(): void {
    this.generation++;
    this.pending?.stop.abort();
    this.pending = null;
    this.disposeModel();
    if (this.store) disposeWeights(this.store);
    this.store = null;
  }

  private disposeModel(): void {
    this.model?.dispose();
    this.model = null;
  }

  /** True once the weights are made (a run then starts at once). */
  get prepared(): boolean {
    return this.model !== null;
  }

  /**
   * Makes the weights (random or from the file) and the model, pausing for the event loop, with
   * progress and cancel (a `Cancelled` error). Runs call it themselves; a panel calls it first to
   * show progress. Weights survive until the module's keys or shapes change or `setWeights`.
   */
  async prepare(opts: PrepareOptions = {}): Promise<void> {
    if (!this.plan || !this.cls) throw new Error('no model yet: the graph must be valid and generated first');
    while (!this.store) {
      const generation = this.generation;
      if (!this.pending || this.pending.generation !== generation) {
        const expected = expectedWeights(this.plan);
        const file = this.mismatch ? null : this.weightsFile();
        const src = this.source;
        // Stopped by the caller's signal, or by `dropWeights` (then the loop starts over for the new weights).
        const stop = new AbortController();
        opts.signal?.addEventListener('abort', () => stop.abort(), { once: true });
        if (opts.signal?.aborted) stop.abort();
        const o: PrepareOptions = { ...opts, signal: stop.signal };
        const done = file ? loadWeightsAsync(expected, file, o) : randomWeightsAsync(expected, src.kind === 'random' ? src.seed : 0, o);
        this.pending = { generation, done, stop };
      }
      const pending = this.pending;
      let store: WeightStore;
      try {
        store = await pending.done;
      } catch (e) {
        if (this.pending === pending) this.pending = null;
        if (e instanceof Cancelled && generation !== this.generation && !opts.signal?.aborted) continue;
        throw e;
      }
      if (this.pending === pending) this.pending = null;
      // Weights dropped meanwhile (a new module or source): these are stale.
      if (generation !== this.generation) disposeWeights(store);
      else if (!this.store) this.store = store;
      else if (this.store !== store) disposeWeights(store);
    }
    if (!this.model) {
      const store = this.store;
      this.model = new (this.cls as unknown as ModelFromStore)(new Map([...store].map(([k, t]) => [k, tf.clone(t)])));
      this.fresh = true;
      this.times = [];
    }
  }

  /** Call after switching backends: the next run counts as a first run (the weights move lazily, on first use). */
  backendChanged(): void {
    this.fresh = true;
    this.times = [];
  }

  /** A module is loaded: runs can start (they make the weights first if needed). */
  get ready(): boolean {
    return this.cls !== null && this.plan !== null;
  }

  /** The graph's inputs (role and per-sample shape), in the forward's order. */
  private modelInputs(): ModelInput[] {
    return graphInputs(this.plan!).map(({ role, info }) => ({ role, dims: info.out!.dims }));
  }

  /** The image input's per-sample shape in tfjs layout (H, W, C): what sampling starts from. */
  private inputShape(): number[] {
    const x = this.modelInputs().find((m) => m.role.role === 'x')!;
    return toTfjsShape(x.role, [1, ...x.dims]).slice(1);
  }

  private makeInputs(r: RunInputs): Partial<Record<InputRole, tf.Tensor>> {
    return makeInputs(this.modelInputs(), r);
  }

  /** The forward's arguments in its order (a missing one is named by the check below). */
  private args(ins: Partial<Record<InputRole, tf.Tensor>>): tf.Tensor[] {
    const missing = this.inputsOrder.filter((k) => !ins[k]);
    if (missing.length > 0) throw new Error(`the model needs ${missing.map((m) => `"${m}"`).join(', ')}, which was not given`);
    return this.inputsOrder.map((k) => ins[k]!);
  }

  /** One forward pass of the generated module. */
  async run(r: RunInputs): Promise<RunReport> {
    await this.prepare();
    const model = this.model!;
    const ins = this.makeInputs(r);
    const first = this.fresh;
    const t0 = performance.now();
    let out: tf.Tensor4D;
    try {
      out = model.forward(...this.args(ins));
      await out.data(); // wait for the GPU: the time includes the readback
    } finally {
      tf.dispose(Object.values(ins));
    }
    const ms = performance.now() - t0;
    this.fresh = false;
    this.runCount++;
    if (!first) this.times = [...this.times.slice(-19), ms];
    return { out, ms, first, stats: await stats(out) };
  }

  /** Median of the last (up to 20) runs after the first. */
  get steadyMs(): number | null {
    if (this.times.length === 0) return null;
    const s = [...this.times].sort((a, b) => a - b);
    return s[s.length >> 1];
  }

  /** The weights for the interpreter: the store itself (tfjs layout), no copy. */
  private async interpreterStore(): Promise<WeightStore> {
    await this.prepare();
    return this.store!;
  }

  /** A node's output (NHWC, caller-owned) and its statistics. */
  async probe(nodeName: string, r: RunInputs): Promise<{ out: tf.Tensor; stats: TensorStats }> {
    if (!this.plan) throw new Error('no model yet');
    const store = await this.interpreterStore();
    const ins = this.makeInputs(r);
    try {
      const res = runGraph(this.plan!, store, ins, { trace: true });
      const found = res.acts[nodeName];
      // Traces share tensors (a node's output is also the next one's input): keep a copy, free them all.
      const out = found ? tf.clone(found) : null;
      tf.dispose([res.out, ...Object.values(res.acts)]);
      if (!out) throw new Error(`no block named ${JSON.stringify(nodeName)}`);
      return { out, stats: await stats(out) };
    } finally {
      tf.dispose(Object.values(ins));
    }
  }

  /**
   * Time per block: the interpreter's own loop (`runGraphSteps`), waiting for each block's output
   * on the device before the next block starts, so each is timed alone.
   */
  async profile(r: RunInputs): Promise<{ name: string; type: string; ms: number }[]> {
    if (!this.plan) throw new Error('no model yet');
    const store = await this.interpreterStore();
    const plan = this.plan;
    const ins = this.makeInputs(r);
    const rows: { name: string; type: string; ms: number }[] = [];
    const steps = runGraphSteps(plan, store, ins);
    try {
      for (;;) {
        const t0 = performance.now();
        const step = steps.next();
        if (step.done) {
          step.value.out.dispose();
          break;
        }
        await step.value.out.data();
        const inf = plan.info.get(step.value.id)!;
        if (!inf.def.io) rows.push({ name: inf.node.name, type: inf.def.displayName, ms: performance.now() - t0 });
      }
    } finally {
      steps.return(undefined as never); // frees what an abandoned run made (a no-op once it has finished)
      tf.dispose(Object.values(ins));
    }
    return rows;
  }

  /** The model's conditional inputs: every input but the image and the timesteps, in the forward's order. */
  conditionalInputs(): ModelInput[] {
    return this.plan ? this.modelInputs().filter((m) => !isSamplerRole(m.role.role)) : [];
  }

  /**
   * DDPM or DDIM from noise with the generated module; `onStep` sees each x_t (return false to
   * cancel). The conditional inputs are made once (from `cond`, then the `label`, then noise from
   * the seed, as a run makes them). With `guidance` (scale ≠ 1) each step runs ONE forward on the
   * doubled batch, conditional and unconditional (`guidedModel`); scale 1 is the conditional
   * prediction itself, so it runs the plain batch.
   */
  async sample(opts: {
    schedule: ScheduleName;
    trainSteps: number;
    steps: number;
    seed: number;
    label: number;
    batch: number;
    learnedSigma: boolean;
    sampler?: SamplerName;
    eta?: number;
    clip?: boolean;
    /** Conditional inputs from a file or one value per sample (they win over `label`). */
    cond?: UnconditionalSpec;
    guidance?: { readonly scale: number; readonly uncond: UnconditionalSpec };
    onStep?: (done: number, total: number, x: tf.Tensor4D) => boolean | void | Promise<boolean | void>;
  }): Promise<tf.Tensor4D | null> {
    await this.prepare();
    const model = this.model!;
    const [h, w, c] = this.inputShape();
    const d = makeDiffusion(opts.schedule, opts.trainSteps, opts.steps);
    const roles = this.conditionalInputs();
    const batch = opts.batch;
    const owned: tf.Tensor[] = [];
    try {
      // The noisy image and the timesteps come from the sampler; the other inputs as a run makes them.
      const cond = conditionalTensors(roles, batch, { ...opts.cond, values: { y: opts.label, ...opts.cond?.values } }, opts.seed, false);
      owned.push(...Object.values(cond));
      const forward: ConditionalModel = (x, t, ins) => model.forward(...this.args({ ...ins, x, timesteps: t }));
      let eps: EpsModel;
      if (opts.guidance && opts.guidance.scale !== 1) {
        const uncond = conditionalTensors(roles, batch, opts.guidance.uncond, opts.seed, true);
        owned.push(...Object.values(uncond));
        eps = guidedModel(forward, cond, uncond, opts.guidance.scale, c);
      } else {
        eps = (x, t) => tf.tidy(() => forward(x, t, cond));
      }
      return await sample(d, eps, {
        shape: [batch, h, w, c],
        seed: opts.seed,
        learnedSigma: opts.learnedSigma,
        ...(opts.sampler ? { sampler: opts.sampler } : {}),
        ...(opts.eta !== undefined ? { eta: opts.eta } : {}),
        ...(opts.clip !== undefined ? { clip: opts.clip } : {}),
        ...(opts.onStep ? { onStep: opts.onStep } : {}),
      });
    } finally {
      tf.dispose(owned);
    }
  }

  dispose(): void {
    this.dropWeights();
    this.cls = null;
    this.plan = null;
  }
}

/** The inputs the sampler itself feeds (the noisy image and the timesteps); every other role conditions the model. */
export const isSamplerRole = (role: string): boolean => role === 'x' || role === 'timesteps';

/** Conditional (or unconditional) inputs: by role from a file's tensors (PyTorch layout, batch first), or one value per sample. */
export interface UnconditionalSpec {
  readonly file?: { readonly name: string; readonly inputs: Readonly<Partial<Record<InputRole, HostTensor>>> };
  readonly values?: Readonly<Partial<Record<InputRole, number>>>;
}

/** Where a guided run's unconditional input comes from, per conditional role (what the panel says). */
export type UnconditionalSource = 'file' | 'value' | 'zeros' | 'missing';

/**
 * For each conditional role: the unconditional file's tensor, else the given value (a null label),
 * else zeros for tensor roles (a context: zeros, as an empty prompt's stand-in), else missing (a
 * label needs its null value).
 */
export function unconditionalSources(roles: readonly ModelInput[], spec: UnconditionalSpec): { role: InputRole; label: string; source: UnconditionalSource }[] {
  return roles.map(({ role }) => ({
    role: role.role,
    label: role.label,
    source: spec.file?.inputs[role.role] ? 'file' : spec.values?.[role.role] !== undefined ? 'value' : role.fallback === 'noise' ? 'zeros' : 'missing',
  }));
}

/**
 * The conditional roles' tensors from an inputs `.safetensors` (by role name or alias, rank
 * checked, any number type read as float32): no image needed, unlike `readInputsFile`. Each
 * tensor's batch is checked when it is used (the sample's batch, or 1 for every sample).
 */
export function readConditioningFile(file: SafetensorsFile, source: string): NonNullable<UnconditionalSpec['file']> {
  const inputs: Partial<Record<InputRole, HostTensor>> = {};
  for (const r of INPUT_ROLES as readonly InputRoleDef<InputRole>[]) {
    if (isSamplerRole(r.role)) continue;
    const name = [r.role, ...r.aliases].find((n) => file.tensors.has(n));
    if (name === undefined) continue;
    const t = file.tensors.get(name)!;
    if (t.shape.length !== r.rank) throw new InputsError(`${source}: "${name}" (${r.label}) must have ${r.rank} dimensions, batch first; got shape [${t.shape.join(', ')}]`);
    inputs[r.role] = { data: toFloat32(t), shape: [...t.shape] };
  }
  if (Object.keys(inputs).length === 0) {
    const want = (INPUT_ROLES as readonly InputRoleDef<InputRole>[]).filter((r) => !isSamplerRole(r.role)).map((r) => `"${r.role}"`);
    throw new InputsError(`${source} has none of the conditional inputs (${want.join(', ')}); it has: ${[...file.tensors.keys()].slice(0, 12).join(', ') || 'nothing'}`);
  }
  return { name: source, inputs };
}

/**
 * The conditional roles' tensors for a batch: from the spec's file (a batch of 1 is repeated), its
 * values, else (conditional) as a run makes them, noise from the seed, or (unconditional) zeros for
 * tensor roles and an error naming a label that has no null value.
 */
function conditionalTensors(roles: readonly ModelInput[], batch: number, spec: UnconditionalSpec, seed: number, unconditional: boolean): Partial<Record<InputRole, tf.Tensor>> {
  const what = unconditional ? 'unconditional' : 'conditional';
  const out: Partial<Record<InputRole, tf.Tensor>> = {};
  try {
    const fromFile: Partial<Record<InputRole, HostTensor>> = {};
    for (const m of roles) {
      const t = spec.file?.inputs[m.role.role];
      if (!t) continue;
      if (t.shape[0] !== batch && t.shape[0] !== 1) {
        throw new InputsError(`${spec.file!.name}: the ${what} ${m.role.role} has a batch of ${t.shape[0]}; sampling makes ${batch} (give 1 or ${batch})`);
      }
      fromFile[m.role.role] = t;
    }
    const made = makeInputs(roles, { batch, noiseSeed: seed, values: spec.values ?? {}, noNoise: unconditional });
    Object.assign(out, made);
    for (const [role, t] of Object.entries(fromFile) as [InputRole, HostTensor][]) {
      out[role]?.dispose();
      const m = roles.find((r) => r.role.role === role)!;
      const one = makeInputs([m], { file: { inputs: { [role]: t }, batch: t.shape[0] }, batch: t.shape[0], noiseSeed: seed, noNoise: true })[role]!;
      out[role] = t.shape[0] === batch ? one : tf.tidy(() => tf.tile(one, [batch, ...one.shape.slice(1).map(() => 1)]));
      if (out[role] !== one) one.dispose();
    }
    if (unconditional) {
      for (const s of unconditionalSources(roles, spec)) {
        if (out[s.role]) continue;
        if (s.source === 'missing') {
          throw new InputsError(
            `classifier-free guidance needs an unconditional ${s.label} (the "null" value the model was trained with, often the last class); give it, or guidance 1 to sample without guidance`,
          );
        }
        const m = roles.find((r) => r.role.role === s.role)!;
        out[s.role] = tf.zeros(toTfjsShape(m.role, [batch, ...m.dims]), 'float32');
      }
    }
  } catch (e) {
    tf.dispose(Object.values(out));
    throw e;
  }
  return out;
}
