/**
 * The run panel's logic, framework-free (no React): the session (`RuntimeSession`), the code
 * worker's client, the backend, the weights source, the inputs, and every result the panel shows
 * (output, probe, profile, sampling progress, memory, errors, the ask/refuse state of the run gate).
 * React reads it through `subscribe`/`getState` (immutable snapshots), as it reads `EditorStore`.
 *
 * Run, Sample and Profile go through one guarded path (`act`): not while another is busy → the gate
 * (refused when the backend cannot hold the model, asked first when slow) → the weights made with
 * progress and Cancel → the action → its result or its classified failure.
 *
 * What needs a browser is injected (`RunControllerDeps`): starting a backend and the code worker.
 * In Node a test passes `useBackend('cpu')` and a code source that generates in-process.
 */
import * as tf from '@tensorflow/tfjs';
import type { Graph } from '../graph/model';
import { analyze, graphInputs, type Analysis } from '../graph/analyze';
import { estimateCost, type BackendLimits, type CostEstimate } from '../graph/estimate';
import type { BackendChoice, BrowserBackend } from '../runtime/backend-browser';
import { fingerprint, isSamplerRole, readConditioningFile, RuntimeSession, unconditionalSources, type RunInputs, type TensorStats, type UnconditionalSource, type UnconditionalSpec, type WeightSource } from '../runtime/session';
import { InputsError, readInputsFile, type HostTensor, type InputsFile } from '../runtime/inputs';
import type { InputRole } from '../blocks/roles';
import { backendLimits, measureRate } from '../runtime/rate';
import { gateRun, type RunGate } from '../runtime/gate';
import { classifyFailure, type Failure } from '../runtime/failure';
import type { SamplerName, ScheduleName } from '../runtime/diffusion';
import { parseSafetensors, writeSafetensors } from '../weights/safetensors';
import { convertWeights, type NamingConversion } from '../graph/convert';
import { expectedWeights } from '../graph/weights';
import { checkpointNote } from '../weights/legacy';
import { EMPTY_CODE, type CodeState } from './codegenClient';
import { hostMap, toRgba, type HostMap, type RgbaImage } from './tensorImage';

/** What makes the module's text: the code worker's client in the browser, an in-process generator in tests. */
export interface CodeSource {
  /** Asks for `graph`'s module; the answer comes through the `onChange` given to `makeCode` (the newest request wins). */
  request(graph: Graph, check: boolean): void;
  dispose(): void;
}

export interface RunControllerDeps {
  /** Starts `preferred` or the next backend that works (`chooseBackend` in the browser). */
  readonly chooseBackend: (preferred: BrowserBackend) => Promise<BackendChoice>;
  /** The backends a user can pick, in the fallback order (failures offer the others). */
  readonly backends: readonly BrowserBackend[];
  readonly makeCode: (onChange: (s: CodeState) => void) => CodeSource;
  /** What the host can give the model, in bytes (`browserMemoryBytes` in the browser). */
  readonly memoryBytes: () => number;
  /** The current backend's GFLOP/s (default: `measureRate`, a timed 3×3 conv). */
  readonly measureRate?: () => Promise<number>;
  /** Quiet time after an edit before the module is asked for (ms, default 200). */
  readonly codeDelayMs?: number;
  /** Quiet time after a change before a live run (ms, default 250). */
  readonly liveDelayMs?: number;
  /** Between sampling steps, where the page gets to draw (default: a 0 ms timer). */
  readonly breathe?: () => Promise<void>;
}

export interface RunResult {
  readonly ms: number;
  readonly first: boolean;
  readonly stats: TensorStats;
  /** The median of recent runs after the first, when there are some. */
  readonly steady: number | null;
  /** Forward passes so far in this panel. */
  readonly runs: number;
}

export interface ProbeResult {
  readonly name: string;
  readonly map: HostMap;
  readonly stats: TensorStats;
}

export interface ProfileRow {
  readonly name: string;
  readonly type: string;
  readonly ms: number;
}

export interface Progress {
  readonly done: number;
  readonly total: number;
}

/** What the panel shows: a new object on every change. */
export interface RunState {
  /** The graph's checks pass (a module can be made). */
  readonly graphOk: boolean;
  readonly estimate: CostEstimate | null;
  /** What Run would do now: start, ask (slow) or refuse (beyond the backend's limits); null until the backend is known. */
  readonly gate: RunGate | null;
  /** The image input's per-sample shape (C, H, W), for an image picked as input. */
  readonly inputDims: readonly number[] | null;
  /** The class label's count when the graph takes one (0: a label without a known count), null without one. */
  readonly numClasses: number | null;
  /** The output has twice the input's channels (the model also predicts the variance). */
  readonly learnedSigma: boolean;
  /** A latent model (4 image channels, no VAE here): outputs show as one grey picture per channel. */
  readonly latent: boolean;
  /** The model's conditional inputs (every input but the image and the timesteps): guidance is offered when there are some. */
  readonly condInputs: readonly { readonly role: string; readonly label: string }[];
  readonly code: CodeState;
  /** The number of modules (or weights) handed to the session: 0 until the first, after which actions can start. */
  readonly moduleReady: number;
  /** A module is loaded and no newer one is being generated. */
  readonly moduleCurrent: boolean;
  readonly choice: BackendChoice | null;
  readonly limits: BackendLimits | null;
  /** GFLOP/s measured on this backend, null while measuring. */
  readonly rate: number | null;
  readonly failure: Failure | null;
  /** Why the last action did not start (the backend cannot hold it). */
  readonly refused: readonly string[] | null;
  /** A slow action waiting for the user's yes (`confirmStart` / `confirmCancel`). */
  readonly confirm: { readonly question: string } | null;
  /** Weights being made (values done / total): `cancelPrepare` stops it. */
  readonly preparing: Progress | null;
  readonly weightsLabel: string;
  /** The weights come from a file (not the seed): the panel says they are not autosaved. */
  readonly weightsFromFile: boolean;
  /** A whole checkpoint's note (weights/legacy.ts): the UNet's keys found under `model.diffusion_model.`, how many tensors of other parts were ignored. */
  readonly checkpointNote: string | null;
  /** The strict check's report when the weights file does not fit the graph. */
  readonly mismatch: string | null;
  readonly seed: number;
  readonly timestep: number;
  readonly label: number;
  /** An image replaces the noise of the image input. */
  readonly hasImage: boolean;
  /** The inputs file's name, when one is used. */
  readonly inputsName: string | null;
  readonly live: boolean;
  readonly busy: boolean;
  readonly result: RunResult | null;
  readonly firstMs: number | null;
  readonly checksum: string | null;
  /** An output is held (Save output can write it). */
  readonly hasOutput: boolean;
  /** What the output canvas shows: the last output, or the sampler's latest x_t. */
  readonly image: RgbaImage | null;
  readonly outputMap: HostMap | null;
  readonly probe: ProbeResult | null;
  readonly profile: readonly ProfileRow[] | null;
  readonly memory: { readonly numTensors: number; readonly numBytes: number };
  readonly schedule: ScheduleName;
  readonly steps: number;
  /** Diffusion steps of the schedule the model was trained with (sampling respaces it to `steps`). */
  readonly trainSteps: number;
  readonly sampling: Progress | null;
  readonly sampler: SamplerName;
  /** DDIM's η (0: deterministic). */
  readonly eta: number;
  /** Classifier-free guidance scale (1: none, the conditional prediction). */
  readonly guidance: number;
  /** The unconditional value of value inputs (the null class label). */
  readonly uncondValue: number;
  /** The unconditional inputs file's name, when one is used. */
  readonly uncondName: string | null;
  /** Where each conditional input's unconditional counterpart comes from under guidance. */
  readonly uncondSources: readonly { readonly role: string; readonly label: string; readonly source: UnconditionalSource }[];
  /** The conditional inputs the inputs file gives (a context, a label): sampling is conditioned on them too. */
  readonly fileCond: readonly { readonly role: string; readonly label: string }[];
}

/** A file's bytes, or their promise while it is read (`File.arrayBuffer()`). */
export type FileBytes = Uint8Array | Promise<ArrayBuffer>;

const readBytes = async (b: FileBytes): Promise<Uint8Array> => (b instanceof Uint8Array ? b : new Uint8Array(await b));

/** The random weights' label for a seed. */
const randomLabel = (seed: number) => `random (seed ${seed})`;

/**
 * Weights that come with a document (a trained model picked in the New… dialog): the file's bytes
 * under the name the weights label shows, and the sampling settings the model was trained for.
 */
export interface DocumentWeights {
  readonly name: string;
  readonly bytes: FileBytes;
  readonly sampling?: { readonly schedule: ScheduleName; readonly trainSteps: number; readonly steps: number; readonly label: number };
}

/** An action of `passes` forward passes, named in the gate's question; `quiet` never asks or reports a refusal. */
interface ActionSpec {
  readonly action: string;
  readonly passes: number;
  readonly confirmed: boolean;
  readonly quiet: boolean;
  /** Starts the action again once the user says yes. */
  readonly again: () => void;
}

export class RunController {
  private state: RunState;
  private readonly listeners = new Set<() => void>();
  private readonly session = new RuntimeSession();
  private readonly code: CodeSource;
  private graph: Graph;
  private analysis: Analysis;
  /** The graph the code source was last asked for: the module that comes back is for it. */
  private requested: Graph | null = null;
  private image: Float32Array | null = null;
  private inputsFile: InputsFile | null = null;
  private uncondFile: UnconditionalSpec['file'] | null = null;
  /** The loaded module's text, to load it again only when it changes (or the backend does). */
  private loaded: { js: string; className: string; inputs: readonly string[]; choice: BackendChoice } | null = null;
  private output: tf.Tensor4D | null = null;
  private ratePromise: Promise<number | null> = Promise.resolve(null);
  /** Bumped per backend start: a rate measured for an older backend is dropped. */
  private backendGeneration = 0;
  /** Bumped per probe: an older probe's answer is dropped. */
  private probeGeneration = 0;
  private probeTarget: string | null = null;
  private pendingConfirm: (() => void) | null = null;
  private stopPrepare: AbortController | null = null;
  private cancelSampling = false;
  private busy = false;
  private disposed = false;
  private codeTimer: ReturnType<typeof setTimeout> | null = null;
  private liveTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly measure: () => Promise<number>;
  private readonly breathe: () => Promise<void>;

  constructor(
    private readonly deps: RunControllerDeps,
    graph: Graph,
  ) {
    this.measure = deps.measureRate ?? (() => measureRate());
    this.breathe = deps.breathe ?? (() => new Promise((r) => setTimeout(r, 0)));
    this.graph = graph;
    this.analysis = analyze(graph);
    this.state = {
      ...this.graphFacts(this.analysis),
      gate: null,
      code: EMPTY_CODE,
      moduleReady: 0,
      moduleCurrent: false,
      choice: null,
      limits: null,
      rate: null,
      failure: null,
      refused: null,
      confirm: null,
      preparing: null,
      weightsLabel: randomLabel(0),
      weightsFromFile: false,
      checkpointNote: null,
      mismatch: null,
      seed: 0,
      timestep: 500,
      label: 0,
      hasImage: false,
      inputsName: null,
      live: false,
      busy: false,
      result: null,
      firstMs: null,
      checksum: null,
      hasOutput: false,
      image: null,
      outputMap: null,
      probe: null,
      profile: null,
      // tf.memory() needs a backend, which starts asynchronously: zeros until then.
      memory: { numTensors: 0, numBytes: 0 },
      schedule: 'linear',
      steps: 50,
      trainSteps: 1000,
      sampling: null,
      sampler: 'ddpm',
      eta: 0,
      guidance: 1,
      uncondValue: 0,
      uncondName: null,
      uncondSources: [],
      fileCond: [],
    };
    this.state = { ...this.state, uncondValue: this.defaultUncondValue(), uncondSources: this.uncondSourcesNow() };
    this.code = deps.makeCode((c) => this.onCode(c));
  }

  // -------------------------------------------------------------------------------------------
  // The store

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  };

  getState = (): RunState => this.state;

  private set(patch: Partial<RunState>): void {
    if (this.disposed) return;
    const next = { ...this.state, ...patch };
    this.state = {
      ...next,
      gate: next.estimate && next.limits ? gateRun(next.estimate, next.limits, next.rate) : null,
      moduleCurrent: next.code.status !== 'generating' && next.moduleReady > 0,
    };
    for (const fn of [...this.listeners]) fn();
  }

  /** Starts the preferred backend (WebGPU), then asks for the module. */
  start(preferred: BrowserBackend = 'webgpu'): Promise<void> {
    this.requestCode();
    return this.startBackend(preferred);
  }

  /** Frees every tensor the controller holds (weights, output), stops the code source and timers; later calls do nothing. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearTimers();
    this.stopPrepare?.abort();
    this.cancelSampling = true;
    this.code.dispose();
    this.session.dispose();
    this.output?.dispose();
    this.output = null;
    this.listeners.clear();
  }

  private clearTimers(): void {
    if (this.codeTimer) clearTimeout(this.codeTimer);
    if (this.liveTimer) clearTimeout(this.liveTimer);
    this.codeTimer = this.liveTimer = null;
  }

  // -------------------------------------------------------------------------------------------
  // The graph and its module

  private graphFacts(a: Analysis): Pick<RunState, 'graphOk' | 'estimate' | 'inputDims' | 'numClasses' | 'learnedSigma' | 'latent' | 'condInputs'> {
    const infos = [...a.info.values()];
    const x = infos.find((i) => i.def.io === 'x');
    const y = infos.find((i) => i.def.io === 'y');
    const outDims = infos.find((i) => i.def.io === 'output')?.inputs.x?.shape?.dims;
    const inDims = x?.out?.dims ?? null;
    return {
      graphOk: a.ok,
      estimate: a.ok ? estimateCost(a, 1) : null,
      inputDims: inDims,
      numClasses: y ? (y.out?.numClasses ?? 0) : null,
      learnedSigma: !!inDims && !!outDims && outDims[0] === 2 * inDims[0],
      latent: inDims?.[0] === 4,
      condInputs: graphInputs(a)
        .filter((g) => !isSamplerRole(g.role.role))
        .map((g) => ({ role: g.role.role, label: g.role.label })),
    };
  }

  /** The null label's usual place: the last class (a model trained for guidance keeps a row for it). */
  private defaultUncondValue(): number {
    const n = this.state.numClasses;
    return n ? n - 1 : 0;
  }

  /** The unconditional inputs as the sampler will take them (file, the value for value inputs). */
  private uncondSpec(): UnconditionalSpec {
    const valueRoles = this.analysisCondInputs().filter((m) => m.role.fallback === 'value');
    return {
      ...(this.uncondFile ? { file: this.uncondFile } : {}),
      values: Object.fromEntries(valueRoles.map((m) => [m.role.role, this.state.uncondValue])),
    };
  }

  private analysisCondInputs() {
    return this.analysis.ok ? graphInputs(this.analysis).filter((g) => !isSamplerRole(g.role.role)).map(({ role, info }) => ({ role, dims: info.out?.dims ?? [] })) : [];
  }

  private uncondSourcesNow(): RunState['uncondSources'] {
    return unconditionalSources(this.analysisCondInputs(), this.uncondSpec());
  }

  /** The model's conditional inputs that the inputs file gives. */
  private fileCondNow(): RunState['fileCond'] {
    const file = this.inputsFile;
    return file ? this.analysisCondInputs().filter((m) => file.inputs[m.role.role]).map((m) => ({ role: m.role.role, label: m.role.label })) : [];
  }

  /**
   * Sampling's conditional inputs from the inputs file (the context, a label: what a single run
   * takes from it too), each a batch of 1 (repeated) or the sampling batch; another batch is an
   * {@link InputsError} naming the file, the input and the batches.
   */
  private sampleCond(batch: number): UnconditionalSpec | null {
    const file = this.inputsFile;
    if (!file) return null;
    const inputs: Partial<Record<InputRole, HostTensor>> = {};
    for (const { role } of this.analysisCondInputs()) {
      const t = file.inputs[role.role];
      if (!t) continue;
      if (t.shape[0] !== 1 && t.shape[0] !== batch) {
        const name = this.state.inputsName ?? 'the inputs file';
        throw new InputsError(
          `${name}: its ${role.label} has a batch of ${t.shape[0]}, but sampling makes ${batch} image${batch === 1 ? '' : 's'}: give a batch of ${batch === 1 ? '1' : `1 or ${batch}`} to sample with it (a single Run takes the whole batch)`,
        );
      }
      inputs[role.role] = t;
    }
    return Object.keys(inputs).length > 0 ? { file: { name: this.state.inputsName ?? 'inputs', inputs } } : null;
  }

  /** The graph being edited: a new module is asked for once edits pause (valid graphs only). */
  setGraph(graph: Graph): void {
    if (graph === this.graph || this.disposed) return;
    this.graph = graph;
    const a = analyze(graph);
    if (a !== this.analysis) {
      this.analysis = a;
      const hadClasses = this.state.numClasses;
      this.set(this.graphFacts(a));
      if (this.state.numClasses !== hadClasses) this.set({ uncondValue: this.defaultUncondValue() });
      this.set({ uncondSources: this.uncondSourcesNow(), fileCond: this.fileCondNow() });
    }
    this.requestCode();
  }

  private requestCode(): void {
    if (this.codeTimer) clearTimeout(this.codeTimer);
    this.codeTimer = null;
    if (!this.analysis.ok) return;
    this.codeTimer = setTimeout(() => {
      this.codeTimer = null;
      this.requested = this.graph;
      this.code.request(this.graph, false);
    }, this.deps.codeDelayMs ?? 200);
  }

  private onCode(c: CodeState): void {
    if (this.disposed) return;
    this.set({ code: c });
    this.loadModule();
  }

  /** Hands a new module (or the same one on a new backend) to the session: weights stay when keys and shapes do. */
  private loadModule(): void {
    const { code, choice } = this.state;
    if (!code.js || !choice || !this.requested) return;
    const l = this.loaded;
    if (l && l.js === code.js && l.className === code.className && l.inputs === code.inputs && l.choice === choice) return;
    this.loaded = { js: code.js, className: code.className, inputs: code.inputs, choice };
    try {
      this.session.setModule(this.requested, code.js, code.className, code.inputs);
      // Undo/redo across a naming conversion: the file in the other naming fits again, so it comes back.
      const other = this.otherNaming;
      if (this.session.mismatch && other) {
        const current = this.session.source;
        this.session.setWeights(other);
        if (this.session.mismatch) this.session.setWeights(current);
        else this.otherNaming = current;
      }
      // A file checked against an older module (opened before this graph's module came) is checked again here.
      this.set({ mismatch: this.session.mismatch?.message ?? null, ...this.weightsFacts() });
      this.moduleChanged();
    } catch (e) {
      this.setError(e);
    }
  }

  /** The module or the weights changed: count it, and let live mode and the probe follow. */
  private moduleChanged(): void {
    this.set({ moduleReady: this.state.moduleReady + 1 });
    this.followChanges();
  }

  /** After a module or an input changes: a live run (debounced) and the probe. */
  private followChanges(): void {
    if (this.state.moduleReady === 0) return;
    if (this.state.live) {
      if (this.liveTimer) clearTimeout(this.liveTimer);
      this.liveTimer = setTimeout(() => {
        this.liveTimer = null;
        void this.run(false, true);
      }, this.deps.liveDelayMs ?? 250);
    }
    void this.probeNow();
  }

  // -------------------------------------------------------------------------------------------
  // Backend

  /** Switches to `b` (or the next backend that works), then measures its rate in the background. */
  async startBackend(b: BrowserBackend): Promise<void> {
    this.setError(null);
    const generation = ++this.backendGeneration;
    try {
      const choice = await this.deps.chooseBackend(b);
      if (this.disposed || generation !== this.backendGeneration) return;
      this.session.backendChanged();
      this.pendingConfirm = null;
      this.set({ choice, memory: tf.memory(), firstMs: null, refused: null, confirm: null, limits: backendLimits(this.deps.memoryBytes()), rate: null });
      // A small conv, timed once per backend (asynchronous: the page stays responsive).
      this.ratePromise = this.measure().then(
        (r) => {
          if (generation === this.backendGeneration) this.set({ rate: r });
          return r;
        },
        () => null,
      );
      this.loadModule();
    } catch (e) {
      this.setError(e);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Errors

  /** An error outside a run (starting a backend, loading a module): the message, and advice only when it is known. */
  private setError(e: unknown): void {
    if (e === null) return this.set({ failure: null });
    const f = classifyFailure(e, { backend: 'none', backends: [] });
    this.set({ failure: f.kind === 'unknown' ? { ...f, advice: '' } : f });
  }

  /** A failed action (or file): what happened, and which backends can help. */
  private failed(e: unknown): void {
    const est = this.state.estimate;
    const need = est ? { weightBytes: est.weightBytes, totalBytes: est.weightBytes + est.peakActivationBytes } : {};
    this.set({ failure: classifyFailure(e, { backend: this.state.choice?.backend ?? 'unknown', backends: this.deps.backends, ...need }) });
  }

  // -------------------------------------------------------------------------------------------
  // Weights and inputs

  /** Random PyTorch-default weights from the current seed. */
  randomWeights(): void {
    const seed = this.state.seed;
    this.otherNaming = null;
    this.session.setWeights({ kind: 'random', seed });
    this.set({ ...this.weightsFacts(), mismatch: null });
    this.moduleChanged();
  }

  /** A `.safetensors` state_dict (strict: a file that does not fit is reported, and random weights with seed 0 are used). */
  async openWeights(name: string, bytes: FileBytes): Promise<void> {
    this.otherNaming = null;
    try {
      this.session.setWeights({ kind: 'file', name, bytes: await readBytes(bytes) });
      this.set({ mismatch: this.session.mismatch?.message ?? null, ...this.weightsFacts(), firstMs: null, failure: null });
      this.moduleChanged();
    } catch (e) {
      this.failed(e);
    }
  }

  /**
   * The graph was converted to the other naming world (graph/convert.ts): the weights file in use,
   * if any, is converted with it (each tensor keeps its dtype) and loaded under a new name, so a
   * checkpoint keeps running under the new names. Random weights need nothing (they follow the graph).
   */
  async convertNaming(conv: NamingConversion): Promise<void> {
    const src = this.session.source;
    if (src.kind !== 'file') return;
    try {
      const file = parseSafetensors(src.bytes, { source: src.name });
      // Already in the new naming (converted before, then Undo and the conversion again): it stays.
      const target = new Set(conv.weights.map((w) => w.to));
      if (file.tensors.size === target.size && [...file.tensors.keys()].every((k) => target.has(k))) return;
      const converted = convertWeights(conv, file.tensors, src.name);
      const bytes = writeSafetensors(Object.fromEntries([...converted].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }])), { format: 'pt' });
      await this.openWeights(`${src.name.replace(/\.safetensors$/i, '')} (${conv.to} names).safetensors`, bytes);
      this.otherNaming = src;
    } catch (e) {
      this.failed(e);
    }
  }

  /** The weights file before the last naming conversion (or after it, once Undo brought the first back): tried when the file in use stops fitting. */
  private otherNaming: WeightSource | null = null;

  /** The weights label for the session's source (random with its seed, the file's name, or that the file does not fit), and whether it is a file. */
  private weightsFacts(): Pick<RunState, 'weightsLabel' | 'weightsFromFile' | 'checkpointNote'> {
    const src = this.session.source;
    if (src.kind === 'random') return { weightsLabel: randomLabel(src.seed), weightsFromFile: false, checkpointNote: null };
    if (this.session.mismatch) return { weightsLabel: `${randomLabel(0)}: ${src.name} does not fit`, weightsFromFile: true, checkpointNote: null };
    const file = this.session.weightsFile();
    const expected = expectedWeights(analyze(this.graph)).map((w) => w.fullKey);
    return { weightsLabel: src.name, weightsFromFile: true, checkpointNote: file ? checkpointNote(expected, file.tensors.keys()) : null };
  }

  /** A document's own weights (a trained model): its sampling settings, then the file as `openWeights` opens it. */
  openDocumentWeights(w: DocumentWeights): Promise<void> {
    if (w.sampling) {
      const { schedule, trainSteps, steps, label } = w.sampling;
      this.set({ schedule, trainSteps: Math.max(1, trainSteps | 0) });
      this.setSteps(steps);
      this.setLabel(label);
    }
    return this.openWeights(w.name, w.bytes);
  }

  /** An inputs `.safetensors` (x, and timesteps / y where given): used instead of noise and the form's values. */
  async openInputs(name: string, bytes: FileBytes): Promise<void> {
    try {
      const file = parseSafetensors(await readBytes(bytes), { source: name });
      this.inputsFile = readInputsFile(file, name);
      this.set({ inputsName: name, failure: null, fileCond: this.fileCondNow() });
      this.followInputs();
    } catch (e) {
      this.failed(e);
    }
  }

  clearInputs(): void {
    this.inputsFile = null;
    this.set({ inputsName: null, fileCond: [] });
    this.followInputs();
  }

  /** An image for the image input (C×H×W in [-1, 1], `pixelsToInput`; a promise while it is decoded), or null for noise. */
  async setImage(values: Float32Array | null | Promise<Float32Array>): Promise<void> {
    try {
      this.image = await values;
    } catch (e) {
      this.failed(e);
      return;
    }
    this.set({ hasImage: this.image !== null });
    this.followInputs();
  }

  setSeed(seed: number): void {
    this.set({ seed: seed | 0 });
    this.followInputs();
  }

  setTimestep(t: number): void {
    this.set({ timestep: t });
    this.followInputs();
  }

  setLabel(label: number): void {
    this.set({ label: label | 0 });
    this.followInputs();
  }

  setLive(live: boolean): void {
    this.set({ live });
    this.followChanges();
  }

  setSchedule(schedule: ScheduleName): void {
    this.set({ schedule });
  }

  /** Sampling steps, kept within 1…1000. */
  setSteps(steps: number): void {
    this.set({ steps: Math.max(1, Math.min(1000, steps | 0)) });
  }

  setSampler(sampler: SamplerName): void {
    this.set({ sampler });
  }

  /** DDIM's η, kept within 0…1. */
  setEta(eta: number): void {
    this.set({ eta: Number.isFinite(eta) ? Math.max(0, Math.min(1, eta)) : 0 });
  }

  /** The guidance scale (1: none); kept within 0…50. */
  setGuidance(scale: number): void {
    this.set({ guidance: Number.isFinite(scale) ? Math.max(0, Math.min(50, scale)) : 1 });
  }

  /** The unconditional value of value inputs (the null class label). */
  setUncondValue(v: number): void {
    this.set({ uncondValue: v | 0 });
    this.set({ uncondSources: this.uncondSourcesNow() });
  }

  /** An unconditional inputs `.safetensors` (a context, a label: by role name or alias), used under guidance. */
  async openUncondInputs(name: string, bytes: FileBytes): Promise<void> {
    try {
      this.uncondFile = readConditioningFile(parseSafetensors(await readBytes(bytes), { source: name }), name);
      this.set({ uncondName: name, failure: null, uncondSources: this.uncondSourcesNow() });
    } catch (e) {
      this.failed(e);
    }
  }

  clearUncondInputs(): void {
    this.uncondFile = null;
    this.set({ uncondName: null, uncondSources: this.uncondSourcesNow() });
  }

  private followInputs(): void {
    this.followChanges();
  }

  private runInputs(): RunInputs {
    const s = this.state;
    return {
      batch: 1,
      noiseSeed: s.seed,
      values: { timesteps: s.timestep, y: s.label },
      ...(this.image ? { samples: { x: this.image } } : {}),
      ...(this.inputsFile ? { file: this.inputsFile } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Actions

  /**
   * Whether an action may start: refused (and why) when the backend cannot hold it, asked first
   * when slow (`again` starts it once the user says yes). A quiet action (live mode) never asks:
   * it only starts what would start at once.
   */
  private async admit(spec: ActionSpec): Promise<boolean> {
    const { estimate, limits } = this.state;
    if (spec.confirmed || !estimate || !limits) return true;
    const g = gateRun(estimate, limits, await this.ratePromise, { passes: spec.passes, action: spec.action });
    if (g.kind === 'refuse') {
      if (!spec.quiet) this.set({ refused: g.problems });
      return false;
    }
    this.set({ refused: null });
    if (g.kind === 'confirm') {
      if (!spec.quiet) {
        this.pendingConfirm = spec.again;
        this.set({ confirm: { question: g.question } });
      }
      return false;
    }
    return true;
  }

  /** Makes the weights if they are not made yet, with progress and Cancel. */
  private async prepareWeights(): Promise<void> {
    if (this.session.prepared) return;
    const stop = new AbortController();
    this.stopPrepare = stop;
    this.set({ preparing: { done: 0, total: 1 } });
    try {
      await this.session.prepare({ signal: stop.signal, onProgress: (done, total) => this.set({ preparing: { done, total } }) });
    } finally {
      this.stopPrepare = null;
      this.set({ preparing: null });
    }
  }

  /** The one path of Run, Sample and Profile: one at a time → the gate → the weights → `body`; a failure is classified and shown. */
  private async act(spec: ActionSpec, body: () => Promise<void>): Promise<void> {
    if (!this.session.ready || this.busy || this.disposed) return;
    this.busy = true;
    this.set({ busy: true });
    try {
      if (!(await this.admit(spec))) return;
      await this.prepareWeights();
      await body();
    } catch (e) {
      this.failed(e);
    } finally {
      this.busy = false;
      this.set({ busy: false, sampling: null, memory: tf.memory() });
    }
  }

  /** One forward pass; `quiet` (live mode) never asks. */
  run(confirmed = false, quiet = false): Promise<void> {
    const spec: ActionSpec = { action: 'Run', passes: 1, confirmed, quiet, again: () => void this.run(true) };
    return this.act(spec, async () => {
      this.set({ checksum: null });
      const r = await this.session.run(this.runInputs());
      await this.showOutput(r.out);
      this.set({
        ...(r.first ? { firstMs: r.ms } : {}),
        result: { ms: r.ms, first: r.first, stats: r.stats, steady: this.session.steadyMs, runs: this.session.runCount },
        failure: null,
      });
    });
  }

  /**
   * DDPM or DDIM from noise with the current schedule and steps, guided when the scale is not 1
   * (twice the forward work); the canvas follows every 5th step; `cancelSample` stops it. The
   * conditional inputs come from the inputs file where it gives them (`sampleCond`), else from the
   * panel (the label) or noise, as a run makes them.
   */
  sample(confirmed = false): Promise<void> {
    const { steps, trainSteps, schedule, seed, label, learnedSigma, sampler, eta, guidance, condInputs, latent } = this.state;
    this.cancelSampling = false;
    const guided = guidance !== 1 && condInputs.length > 0;
    const name = `${sampler === 'ddim' ? 'DDIM' : 'Sampling'} (${steps} steps${guided ? `, guidance ${guidance}` : ''})`;
    const spec: ActionSpec = { action: name, passes: guided ? 2 * steps : steps, confirmed, quiet: false, again: () => void this.sample(true) };
    return this.act(spec, async () => {
      const batch = 1;
      const cond = this.sampleCond(batch);
      this.set({ sampling: { done: 0, total: steps } });
      const out = await this.session.sample({
        schedule,
        trainSteps,
        steps,
        seed,
        label,
        batch,
        learnedSigma,
        ...(cond ? { cond } : {}),
        sampler,
        eta,
        ...(guided ? { guidance: { scale: guidance, uncond: this.uncondSpec() } } : {}),
        onStep: async (done, total, x) => {
          this.set({ sampling: { done, total } });
          if (done % 5 === 0 || done === total) this.set(latent ? { outputMap: await hostMap(x) } : { image: await toRgba(x) });
          await this.breathe(); // let the page breathe between steps
          return !this.cancelSampling && !this.disposed;
        },
      });
      if (out) await this.showOutput(out);
    });
  }

  /** Time per block. */
  profile(confirmed = false): Promise<void> {
    const spec: ActionSpec = { action: 'Profiling', passes: 1, confirmed, quiet: false, again: () => void this.profile(true) };
    return this.act(spec, async () => {
      const rows = await this.session.profile(this.runInputs());
      this.set({ profile: rows });
    });
  }

  /** The user said yes to a slow action. */
  confirmStart(): void {
    const go = this.pendingConfirm;
    this.pendingConfirm = null;
    this.set({ confirm: null });
    go?.();
  }

  confirmCancel(): void {
    this.pendingConfirm = null;
    this.set({ confirm: null });
  }

  cancelPrepare(): void {
    this.stopPrepare?.abort();
  }

  cancelSample(): void {
    this.cancelSampling = true;
  }

  /** Holds `out` (freeing the previous output) and shows it: fingerprint, image, channels. */
  private async showOutput(out: tf.Tensor4D): Promise<void> {
    if (this.disposed) {
      out.dispose();
      return;
    }
    this.output?.dispose();
    this.output = out;
    this.set({ hasOutput: true });
    const checksum = fingerprint((await out.data()) as Float32Array);
    const outputMap = await hostMap(out);
    const image = await toRgba(out);
    this.set({ checksum, outputMap, image });
  }

  /** The output as a `.safetensors` (NCHW, key `out`), or null without one. */
  async outputSafetensors(): Promise<Uint8Array | null> {
    const out = this.output;
    if (!out) return null;
    const nchw = tf.transpose(out, [0, 3, 1, 2]);
    try {
      const data = (await nchw.data()) as Float32Array;
      return writeSafetensors({ out: { dtype: 'F32', shape: nchw.shape, data } }, { producer: 'unet-studio runtime panel', backend: this.state.choice?.backend ?? '' });
    } finally {
      nchw.dispose();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Probe

  /** The node whose output the probe shows (the selected block), or null. */
  setProbeTarget(name: string | null): void {
    if (name === this.probeTarget) return;
    this.probeTarget = name;
    void this.probeNow();
  }

  /** Probes the target node with the current inputs; a newer probe wins. Never makes weights a run would have to ask for (or could not hold). */
  private async probeNow(): Promise<void> {
    const name = this.probeTarget;
    const generation = ++this.probeGeneration;
    if (!name || !this.session.ready || this.state.moduleReady === 0 || this.disposed) return;
    if (!this.session.prepared && this.state.gate?.kind !== 'go') return;
    try {
      const p = await this.session.probe(name, this.runInputs());
      let map: HostMap;
      try {
        map = await hostMap(p.out);
      } finally {
        p.out.dispose();
      }
      if (generation === this.probeGeneration) this.set({ probe: { name, map, stats: p.stats } });
    } catch (e) {
      this.failed(e);
    }
  }
}
