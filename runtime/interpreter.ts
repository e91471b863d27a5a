/**
 * Runs a graph on whichever tfjs backend is active: the blocks' own kernels in topological order,
 * inside `tf.tidy`, freeing each intermediate as soon as its last consumer has run.
 */
import * as tf from '@tensorflow/tfjs';
import type { Trace } from '../blocks/types';
import { analyze, graphInputs, type Analysis } from '../graph/analyze';
import { inputRole, isInputRole, toPytorchShape, type InputRole } from '../blocks/roles';
import type { Graph } from '../graph/model';

export class GraphError extends Error {
  override name = 'GraphError';
  constructor(
    readonly problems: Analysis['problems'],
    what: string,
  ) {
    super(`${what}:\n${problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message} (fix: ${p.fix})`).join('\n')}`);
  }
}

/** Analyses a graph and refuses it if it has errors. */
export function planGraph(graph: Graph): Analysis {
  const a = analyze(graph);
  if (!a.ok) throw new GraphError(a.problems, `graph "${graph.name}" is not valid`);
  return a;
}

/** A forward's inputs by role (`INPUT_ROLES`), in the tfjs layout each role declares (x is NHWC). */
export type GraphInputs = Readonly<Partial<Record<InputRole, tf.Tensor>>>;

export interface RunOptions {
  /**
   * Keep every node's output (by node name, NHWC) and each block's internal intermediates
   * (`${name}.${key}`, in PyTorch layout) and each node's inputs (`${name}:input_${port}`).
   */
  readonly trace?: boolean;
  /** Called after each block has run (`index` in `a.order`), e.g. for a progress line. */
  readonly onBlock?: (index: number, id: string) => void;
}

export interface RunResult {
  readonly out: tf.Tensor4D;
  readonly acts: Readonly<Record<string, tf.Tensor>>;
}

/** Checks the inputs against the graph's input blocks before anything runs. */
function feeds(a: Analysis, inputs: GraphInputs): Map<string, tf.Tensor> {
  const fed = new Map<string, tf.Tensor>();
  // The first input sets the batch; every other must have the same.
  let batch: number | null = null;
  for (const { role, info } of graphInputs(a)) {
    const label = JSON.stringify(info.node.name);
    const t = inputs[role.role];
    if (!t) throw new Error(`the graph's ${info.def.displayName} ${label} needs "${role.role}", which was not given`);
    const want = info.out!.dims;
    const per = toPytorchShape(role, t.shape).slice(1);
    if (t.rank !== role.rank || per.join('×') !== want.join('×')) {
      const got = t.rank === role.rank ? per.join('×') : `[${t.shape.join(', ')}]`;
      throw new Error(`input ${role.role} is ${got || 'a scalar'} but the graph's ${info.def.displayName} ${label} is ${want.join('×') || 'a scalar per sample'}`);
    }
    if (batch !== null && t.shape[0] !== batch) throw new Error(`"${role.role}" has ${t.shape[0]} entries for a batch of ${batch}`);
    batch ??= t.shape[0];
    fed.set(info.node.id, t);
  }
  return fed;
}

/** One block has run: its index in `a.order`, its node id and its output (owned by the run). */
/**
 * Where the interpreter reads a block's weights (tfjs layout, by full PyTorch key): resident tensors
 * (a `WeightStore`), or host memory that makes each tensor inside the block's `tf.tidy`, which frees
 * it when the block returns (`HostWeights`, runtime/host-weights.ts).
 */
export interface WeightReader {
  get(key: string): tf.Tensor | undefined;
}

export interface BlockStep {
  readonly index: number;
  readonly id: string;
  readonly out: tf.Tensor;
}

/**
 * The interpreter's one loop, a block per step: each block runs in its own `tf.tidy` when the
 * generator is resumed, then the step hands over its output. `runGraph` drives it in one go (inside
 * `tf.tidy`, calling `onBlock`); the session's profiler drives it asynchronously, waiting for each
 * block's output on the device before the next one starts (a per-block time on WebGPU too, which
 * cannot wait synchronously). Intermediates are freed after their last consumer has run; a run
 * abandoned midway (`return()` or an error) frees what it made.
 */
export function* runGraphSteps(a: Analysis, weights: WeightReader, inputs: GraphInputs, opts: RunOptions = {}): Generator<BlockStep, RunResult, void> {
  const fed = feeds(a, inputs);
  // How many consumers each node still has: an intermediate is freed after its last one runs.
  const uses = new Map<string, number>();
  for (const id of a.order) for (const v of Object.values(a.info.get(id)!.inputs)) uses.set(v.from, (uses.get(v.from) ?? 0) + 1);

  const external = new Set<tf.Tensor>(fed.values());
  const values = new Map<string, tf.Tensor>();
  // Node values holding each tensor: pass-through blocks (Output) return their input itself.
  const holders = new Map<tf.Tensor, number>();
  const release = (t: tf.Tensor) => {
    const n = (holders.get(t) ?? 1) - 1;
    if (n > 0) holders.set(t, n);
    else {
      holders.delete(t);
      if (!external.has(t)) t.dispose();
    }
  };
  const acts: Record<string, tf.Tensor> = {};
  let out: tf.Tensor | null = null;
  let finished = false;
  try {
    for (let index = 0; index < a.order.length; index++) {
      const id = a.order[index];
      const inf = a.info.get(id)!;
      const name = inf.node.name;
      const ins: Record<string, tf.Tensor> = {};
      for (const [port, v] of Object.entries(inf.inputs)) {
        ins[port] = values.get(v.from)!;
        // Traces are the caller's to dispose: never hand back the caller's own input tensors.
        if (opts.trace) acts[`${name}:input_${port}`] = external.has(ins[port]) ? tf.clone(ins[port]) : ins[port];
      }
      const w = (key: string): tf.Tensor => {
        const t = weights.get(`${name}.${key}`);
        if (!t) throw new Error(`weight "${name}.${key}" is not loaded`);
        return t;
      };
      // Traced intermediates outlive the block's own tidy; everything else it makes inside is freed
      // when it returns, so a forward pass holds block outputs only, never every kernel's temporaries.
      const trace: Trace | undefined = opts.trace ? (key, t) => (acts[`${name}.${key}`] = tf.keep(t)) : undefined;
      const given = fed.get(id);
      const role = isInputRole(inf.def.io) ? inputRole(inf.def.io) : null;
      const y = tf.tidy(() => {
        // An input block hands on the caller's tensor, cast where its role says (timesteps may be int).
        if (given) ins.x = role?.castOnEntry ? tf.cast(given, role.dtype) : given;
        return inf.def.forward(ins, w, inf.params, trace);
      });
      // The caller owns the result: never hand back one of its own inputs (a graph wired x → Output).
      if (inf.def.io === 'output') out = external.has(y) ? tf.clone(y) : y;
      values.set(id, y);
      holders.set(y, (holders.get(y) ?? 0) + 1);
      yield { index, id, out: y };
      if (opts.trace) {
        acts[name] = external.has(y) ? tf.clone(y) : y;
        continue;
      }
      for (const v of Object.values(inf.inputs)) {
        const left = (uses.get(v.from) ?? 0) - 1;
        uses.set(v.from, left);
        if (left === 0) {
          release(values.get(v.from)!);
          values.delete(v.from);
        }
      }
    }
    if (!out) throw new Error('the graph has no Output block');
    finished = true;
    return { out: out as tf.Tensor4D, acts };
  } finally {
    if (!finished) {
      const keep = new Set(external);
      tf.dispose([...new Set([...values.values(), ...Object.values(acts), ...(out ? [out] : [])])].filter((t) => !keep.has(t)));
    }
  }
}

export function runGraph(a: Analysis, weights: WeightReader, inputs: GraphInputs, opts: RunOptions = {}): RunResult {
  return tf.tidy(() => {
    const steps = runGraphSteps(a, weights, inputs, opts);
    for (let s = steps.next(); ; s = steps.next()) {
      if (s.done) return { out: s.value.out, acts: s.value.acts };
      opts.onBlock?.(s.value.index, s.value.id);
    }
  });
}

/** Convenience: plan once, then run with a fixed set of weights. */
export function runOnce(graph: Graph, weights: WeightReader, inputs: GraphInputs, opts: RunOptions = {}): RunResult {
  return runGraph(planGraph(graph), weights, inputs, opts);
}
