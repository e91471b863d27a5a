/**
 * What flows along edges (port kinds) and what a model takes from outside (input roles), declared
 * once. The code generator (the forward's parameters, their types and checks), the interpreter
 * (feeding input blocks), the runtime session and the run panel (inputs from a file or made up), and
 * the CLI (`run --inputs`) all read `INPUT_ROLES`; none of them names a role.
 *
 * Adding a role is one row here plus its input block (in `defs/io.ts`, with `io: '<role>'`).
 * Imports nothing: `types.ts` builds on it.
 */

/** What flows along an edge. */
export type PortKind = 'feature' | 'temb' | 'timesteps' | 'label' | 'context';

export const PORT_KIND_LABEL: Readonly<Record<PortKind, string>> = {
  feature: 'feature map',
  temb: 'embedding',
  timesteps: 'timesteps',
  label: 'class label',
  context: 'context (tokens × dim)',
};

export interface InputRoleDef<R extends string = string> {
  /** The forward's parameter name, and the tensor's name in an inputs `.safetensors`. */
  readonly role: R;
  /** Other names an inputs file may use for it (diffusers' names, for example). */
  readonly aliases: readonly string[];
  /** In messages and the run panel. */
  readonly label: string;
  /** The kind of the input block's output port. */
  readonly kind: PortKind;
  /** Rank of the tensor a forward takes, batch included (an image `[B, C, H, W]` is 4; timesteps `[B]` 1). */
  readonly rank: number;
  /** What the model computes with: the input block casts to it on entry (timesteps may come as int64). */
  readonly dtype: 'float32';
  readonly castOnEntry: boolean;
  /**
   * PyTorch's layout (files, PyTorch's forward, the shapes the graph shows) → the tfjs module's, as
   * a permutation of the whole tensor's axes (`[0, 2, 3, 1]`: NCHW → NHWC); `null`: the same layout.
   */
  readonly toTfjs: readonly number[] | null;
  /** The layouts' names for messages ("NCHW" in files, "NHWC" in tfjs); `null` when there is none to name. */
  readonly pytorchLayout: string | null;
  readonly tfjsLayout: string | null;
  /** What a run without this input in its file uses: Gaussian noise, or one number for every sample (a field in the run panel). */
  readonly fallback: 'noise' | 'value';
  /**
   * The exported PyTorch model's side: an example batch of `batch` for `python model.py` (it may
   * read model.py's INPUT_SHAPE and NUM_CLASSES), and whether forward may be called without it
   * (a class label: `y=None`, refused with a clear error when the model reads it).
   */
  readonly pytorch: { readonly example: string; readonly optional: boolean };
}

/** Every input role, in the order a model's forward takes them. */
export const INPUT_ROLES = [
  {
    role: 'x', aliases: ['sample'], label: 'image x', kind: 'feature', rank: 4, dtype: 'float32', castOnEntry: false,
    toTfjs: [0, 2, 3, 1], pytorchLayout: 'NCHW', tfjsLayout: 'NHWC', fallback: 'noise',
    pytorch: { example: 'torch.randn(batch, *INPUT_SHAPE)', optional: false },
  },
  {
    role: 'timesteps', aliases: ['timestep'], label: 'timesteps', kind: 'timesteps', rank: 1, dtype: 'float32', castOnEntry: true,
    toTfjs: null, pytorchLayout: null, tfjsLayout: null, fallback: 'value',
    pytorch: { example: 'torch.randint(0, 1000, (batch,))', optional: false },
  },
  {
    // A sequence per sample (`[tokens, dim]`, text-encoder states): cross-attention's keys and values.
    // Before `y`, as in both real forwards (ldm's `forward(x, timesteps, context, y)`, diffusers'
    // `forward(sample, timestep, encoder_hidden_states, class_labels)`): an optional argument comes last in Python.
    role: 'context', aliases: ['encoder_hidden_states', 'cond'], label: 'context', kind: 'context', rank: 3, dtype: 'float32', castOnEntry: false,
    toTfjs: null, pytorchLayout: null, tfjsLayout: null, fallback: 'noise',
    pytorch: { example: 'torch.randn(batch, CONTEXT_TOKENS, CONTEXT_DIM)', optional: false },
  },
  {
    role: 'y', aliases: ['class_labels'], label: 'class label y', kind: 'label', rank: 1, dtype: 'float32', castOnEntry: true,
    toTfjs: null, pytorchLayout: null, tfjsLayout: null, fallback: 'value',
    pytorch: { example: 'torch.randint(0, NUM_CLASSES, (batch,))', optional: true },
  },
] as const satisfies readonly InputRoleDef[];

export type InputRole = (typeof INPUT_ROLES)[number]['role'];
/** Where an input/output block's tensor comes from or goes to. */
export type IoRole = InputRole | 'output';

export function inputRole(role: InputRole): InputRoleDef<InputRole> {
  return INPUT_ROLES.find((r) => r.role === role)!;
}

export function isInputRole(role: string | undefined): role is InputRole {
  return INPUT_ROLES.some((r) => r.role === role);
}

/** The inverse of a permutation (tfjs layout → PyTorch's). */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/**
 * A shape in PyTorch's layout, batch included, in the tfjs module's layout. Per-sample shapes (the
 * graph's, without the batch) go through with a batch of 1 prepended and taken off.
 */
export function toTfjsShape(role: InputRoleDef, pytorchShape: readonly number[]): number[] {
  return role.toTfjs ? role.toTfjs.map((axis) => pytorchShape[axis]) : [...pytorchShape];
}

export function toPytorchShape(role: InputRoleDef, tfjs: readonly number[]): number[] {
  return role.toTfjs ? inversePermutation(role.toTfjs).map((axis) => tfjs[axis]) : [...tfjs];
}
