/**
 * The shape of a block declaration. Every block type is declared once (see `registry.ts`), and the
 * editor, the graph checker, the code generator and the runtime all read that one declaration.
 *
 * Nothing here imports tfjs's backends, React or ts-morph: only tfjs's types.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { WeightInit, WeightLayout } from '../weights/types';
import type { PytorchBlock } from './pytorch';
export type { PyArg, PytorchBlock } from './pytorch';

import type { IoRole, PortKind } from './roles';

// Port kinds and input roles are declared in roles.ts (which imports nothing).
export { PORT_KIND_LABEL, type InputRole, type IoRole, type PortKind } from './roles';

export interface PortDef {
  readonly name: string;
  readonly kind: PortKind;
  readonly label: string;
}

/**
 * A tensor's shape per sample (the batch dimension is never part of a graph's shapes):
 * feature maps are `[C, H, W]` (as PyTorch people read them), embeddings `[D]`, timesteps and labels `[]`, a context `[tokens, dim]`.
 */
export interface TensorShape {
  readonly kind: PortKind;
  readonly dims: readonly number[];
  /** For `label` tensors: how many classes the label can take. */
  readonly numClasses?: number;
}

// ---------------------------------------------------------------------------------------------
// Parameters

interface ParamBase {
  readonly label: string;
  readonly help?: string;
}
export interface IntParam extends ParamBase {
  readonly type: 'int';
  readonly default: number;
  readonly min: number;
  readonly max: number;
}
export interface FloatParam extends ParamBase {
  readonly type: 'float';
  readonly default: number;
  readonly min: number;
  readonly max: number;
}
export interface BoolParam extends ParamBase {
  readonly type: 'bool';
  readonly default: boolean;
}
export interface EnumParam<O extends string = string> extends ParamBase {
  readonly type: 'enum';
  readonly options: readonly O[];
  readonly default: O;
}
export type ParamSpec = IntParam | FloatParam | BoolParam | EnumParam;
export type ParamSpecs = Readonly<Record<string, ParamSpec>>;
export type ParamValue = number | boolean | string;
export type ParamValues = Readonly<Record<string, ParamValue>>;

type ValueOf<S> = S extends IntParam | FloatParam
  ? number
  : S extends BoolParam
    ? boolean
    : S extends EnumParam<infer O>
      ? O
      : never;
export type ParamsOf<S extends ParamSpecs> = { readonly [K in keyof S]: ValueOf<S[K]> };

export const int = (label: string, def: number, min: number, max: number, help?: string): IntParam => ({
  type: 'int', label, default: def, min, max, help,
});
export const float = (label: string, def: number, min: number, max: number, help?: string): FloatParam => ({
  type: 'float', label, default: def, min, max, help,
});
export const bool = (label: string, def: boolean, help?: string): BoolParam => ({ type: 'bool', label, default: def, help });
export const choice = <const O extends string>(label: string, options: readonly O[], def: O, help?: string): EnumParam<O> => ({
  type: 'enum', label, options, default: def, help,
});

/** Parameters as a document saved them: any version of a block's parameters, not yet checked. */
export type SavedParams = Readonly<Record<string, ParamValue>>;

/**
 * One step in the history of a block's parameters (as tldraw migrates each shape's props): `up`
 * turns the parameters a document saved at `version - 1` into those of `version`: a rename, a new
 * parameter with the value older documents meant, a removal. A block's parameters are at version 1
 * until its first step, then at its last step's `version` (steps are 2, 3, … in order; published
 * steps never change, a new change is a new step). `up` throws an `Error` saying why when it
 * cannot apply; the document reader names the block.
 */
export interface ParamMigration {
  readonly version: number;
  /** What changed, in a few words (`rename channels → out_channels`). */
  readonly description: string;
  up(params: SavedParams): SavedParams;
}

/** The version of a block's parameters that documents are saved at: its last migration's, or 1. */
export function paramsVersion(def: { readonly migrations?: readonly ParamMigration[] }): number {
  const steps = def.migrations ?? [];
  return steps.length > 0 ? steps[steps.length - 1].version : 1;
}

// ---------------------------------------------------------------------------------------------
// Weights

// `WeightLayout` (how a PyTorch tensor becomes the tfjs tensor a kernel reads) and `WeightInit`
// (PyTorch's default initialisers) live in the floor below blocks, weights/types.ts.
export type { WeightInit, WeightLayout } from '../weights/types';

export interface WeightSpec {
  /** Sub-key under the node's name: the state_dict key is `${node.name}.${key}`. */
  readonly key: string;
  /** Shape in PyTorch's layout. */
  readonly shape: readonly number[];
  readonly layout: WeightLayout;
  readonly init: WeightInit;
  /** `param` counts in the parameter total; `buffer` (BatchNorm statistics) does not. */
  readonly role: 'param' | 'buffer';
  /** PyTorch dtype; only `num_batches_tracked` is int64. */
  readonly dtype: 'float32' | 'int64';
}

// ---------------------------------------------------------------------------------------------
// Shape rules and problems

/** A message about one block, without the block's name (the graph checker adds `ResBlock "name": `). */
export interface BlockIssue {
  readonly message: string;
  readonly fix: string;
  readonly severity?: 'error' | 'warning';
  /** The parameter at fault, where there is one (the inspector highlights it). */
  readonly param?: string;
}

export type ShapeResult =
  | { readonly ok: true; readonly out: TensorShape; readonly warnings?: readonly BlockIssue[] }
  | {
      readonly ok: false;
      readonly issues: readonly BlockIssue[];
      /**
       * The output shape where it is still clear despite the issues (a ResBlock whose channels do not
       * split into 32 groups still outputs `out_channels×H×W`), so blocks downstream are checked too.
       */
      readonly out?: TensorShape;
    };

export type InputShapes = Readonly<Record<string, TensorShape>>;

// ---------------------------------------------------------------------------------------------
// Kernels

/** Reads one of the node's weights by sub-key (already in tfjs layout). */
export type WeightGetter = (key: string) => tf.Tensor;
/**
 * Receives a block's internal intermediates for probing and parity tests. Kernels only call it when
 * it is given, and hand over tensors in PyTorch's layout (NCHW, or `[B, C, T]` inside attention).
 */
export type Trace = (key: string, t: tf.Tensor) => void;
export type KernelInputs = Readonly<Record<string, tf.Tensor>>;
/** The parameters of a block that has none. */
export type NoParams = Readonly<Record<string, never>>;
/**
 * Every kernel has this signature, `(inputs, weights, params, trace?) => output`, so the interpreter
 * and generated code call all of them the same way.
 */
export type Kernel<P> = (inputs: KernelInputs, w: WeightGetter, params: P, trace?: Trace) => tf.Tensor;


export type BlockCategory = 'Inputs & outputs' | 'Diffusion' | 'Layers' | 'Classic UNet';

export interface BlockView<P extends ParamValues = ParamValues> {
  /** Accent colour on the canvas. */
  readonly color: string;
  /** The key parameters, one short line (e.g. `→128 · scale-shift`). */
  summary(params: P): string;
}

/**
 * One block type, declared once. Methods use method syntax so a declaration typed with its own
 * parameters is assignable to `BlockDef` (parameters are read bivariantly).
 */
export interface BlockDef<P extends ParamValues = ParamValues> {
  readonly type: string;
  readonly displayName: string;
  readonly category: BlockCategory;
  readonly description: string;
  /** Prefix for names of nodes the user adds (`resblock_1`). */
  readonly nameHint: string;
  readonly inputs: readonly PortDef[];
  /** `null` for the graph's Output, a sink. */
  readonly output: PortDef | null;
  readonly params: ParamSpecs;
  readonly io?: IoRole;
  readonly view: BlockView<P>;
  /** Checks that do not need shapes (cross-parameter rules). */
  checkParams?(params: P): readonly BlockIssue[];
  /** The output shape from the input shapes, or what is wrong. Only called once every input is known. */
  shape(inputs: InputShapes, params: P): ShapeResult;
  /** The weights the block owns, given its input shapes. */
  weights(inputs: InputShapes, params: P): readonly WeightSpec[];
  /** Floating-point operations per sample (2 per multiply-add), for summaries and benchmarks. */
  flops(inputs: InputShapes, out: TensorShape, params: P): number;
  /**
   * The largest tensor the kernel makes inside itself, per sample, when it is larger than the
   * output (attention's `[heads, t, t]` scores). Cost estimates use it for memory peaks and for
   * backend limits such as WebGL's texture size. Omitted: nothing inside is larger than the output.
   */
  workspace?(inputs: InputShapes, params: P): readonly number[];
  /**
   * Values per sample of the temporaries the kernel holds at once besides its output (they live
   * until the block returns: the interpreter and the generated module run each block in its own
   * `tf.tidy`). Counted from the kernel's ops and checked against tfjs's measured peak in
   * `blocks/scratch.test.ts`. Omitted: none worth counting.
   */
  scratch?(inputs: InputShapes, out: TensorShape, params: P): number;
  /** The tfjs forward (NHWC). Input/output blocks pass their tensor through. */
  forward(inputs: KernelInputs, w: WeightGetter, params: P, trace?: Trace): tf.Tensor;
  /**
   * How older documents' parameters become today's (see `ParamMigration`), oldest first. Omitted:
   * the parameters are still at version 1. Renaming or adding a parameter adds a step here; nothing
   * else changes (documents record each node's version and upgrade on opening).
   */
  readonly migrations?: readonly ParamMigration[];
  /** The block as a PyTorch module (`blocks/pytorch.ts`); every block but the inputs and the Output has one. */
  readonly pytorch?: PytorchBlock<P>;
}

/** Declares a block with its parameter types inferred from its parameter specs. */
export function defineBlock<const S extends ParamSpecs>(
  def: Omit<BlockDef<ParamsOf<S>>, 'params'> & { readonly params: S },
): BlockDef<ParamsOf<S>> {
  return def;
}
