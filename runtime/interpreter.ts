/**
 * Runs a graph on whichever tfjs backend is active: the blocks' own kernels in topological order,
 * inside `tf.tidy`, freeing each intermediate as soon as its last consumer has run.
 */
import * as tf from '@tensorflow/tfjs';
import type { Trace } from '../blocks/types';
import type { Analysis } from '../graph/analyze';
import { analyze } from '../graph/analyze';
import type { Graph } from '../graph/model';
import type { WeightStore } from './weights';

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

/** Inputs in tfjs layout: `x` NHWC float32, `timesteps` [B] float32, `y` [B] float32 (class index). */
export interface GraphInputs {
  readonly x: tf.Tensor4D;
  readonly timesteps?: tf.Tensor1D;
  readonly y?: tf.Tensor1D;
}

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
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    const role = inf.def.io;
    if (!role || role === 'output') continue;
    const label = JSON.stringify(inf.node.name);
    if (role === 'x') {
      const want = inf.out!.dims;
      const [, h, w, c] = inputs.x.shape;
      if (c !== want[0] || h !== want[1] || w !== want[2]) {
        throw new Error(`input x is ${c}×${h}×${w} but the graph's Image input ${label} is ${want.join('×')}`);
      }
      fed.set(id, inputs.x);
    } else {
      const t = role === 'timesteps' ? inputs.timesteps : inputs.y;
      if (!t) throw new Error(`the graph's ${inf.def.displayName} ${label} needs "${role}", which was not given`);
      if (t.shape[0] !== inputs.x.shape[0]) throw new Error(`"${role}" has ${t.shape[0]} entries for a batch of ${inputs.x.shape[0]}`);
      fed.set(id, t);
    }
  }
  return fed;
}

export function runGraph(a: Analysis, weights: WeightStore, inputs: GraphInputs, opts: RunOptions = {}): RunResult {
  const fed = feeds(a, inputs);
  // How many consumers each node still has: an intermediate is freed after its last one runs.
  const uses = new Map<string, number>();
  for (const id of a.order) for (const v of Object.values(a.info.get(id)!.inputs)) uses.set(v.from, (uses.get(v.from) ?? 0) + 1);

  const external = new Set<tf.Tensor>(fed.values());
  return tf.tidy(() => {
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
    for (let index = 0; index < a.order.length; index++) {
      const id = a.order[index];
      const inf = a.info.get(id)!;
      const name = inf.node.name;
      const ins: Record<string, tf.Tensor> = {};
      const given = fed.get(id);
      if (given) ins.x = inf.def.io === 'timesteps' || inf.def.io === 'y' ? tf.cast(given, 'float32') : given;
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
      const y = tf.tidy(() => inf.def.forward(ins, w, inf.params, trace));
      // The caller owns the result: never hand back one of its own inputs (a graph wired x → Output).
      if (inf.def.io === 'output') out = external.has(y) ? tf.clone(y) : y;
      values.set(id, y);
      holders.set(y, (holders.get(y) ?? 0) + 1);
      opts.onBlock?.(index, id);
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
    return { out: out as tf.Tensor4D, acts };
  });
}

/** Convenience: plan once, then run with a fixed set of weights. */
export function runOnce(graph: Graph, weights: WeightStore, inputs: GraphInputs, opts: RunOptions = {}): RunResult {
  return runGraph(planGraph(graph), weights, inputs, opts);
}
