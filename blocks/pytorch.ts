/**
 * How a block type becomes PyTorch: the `pytorch` part of its declaration. The PyTorch export
 * (codegen/targets/pytorch) emits `source` once per block type a graph uses, constructs one module
 * per node with `ctorArgs`, registers it at the node's name (so its `state_dict` keys are the
 * node's weight keys) and calls it with the inputs in `forwardInputs` order.
 *
 * The classes reproduce the reference code the tfjs kernels mirror (openai improved/guided-diffusion,
 * milesial Pytorch-UNet), written here against `torch` alone (1.13 and 2.x).
 */
/**
 * The input shapes `ctorArgs` reads (`InputShapes` of types.ts, restated so that this file imports
 * nothing from types.ts, which re-exports it: no import cycle).
 */
export type PyInputShapes = Readonly<Record<string, { readonly dims: readonly number[]; readonly numClasses?: number }>>;

/** A keyword argument: its name and its value as a Python literal (`pyInt`, `pyFloat`, `pyBool`, `pyStr`). */
export type PyArg = readonly [keyword: string, literal: string];

/** Classes and functions several blocks' classes use, emitted before them when needed. */
export type PytorchHelper = 'zero_module' | 'GroupNorm32';

export interface PytorchBlock<P> {
  /** The nn.Module class (the block's type name). */
  readonly className: string;
  /**
   * The class's Python text: static per block type, depending only on `torch`, `nn`
   * (`torch.nn`), `F` (`torch.nn.functional`), `math`, `typing` and the `helpers`. Children that
   * hold no weights are not registered (functional calls instead), so every child module name is the
   * first segment of one of the block's weight keys.
   */
  readonly source: string;
  readonly helpers?: readonly PytorchHelper[];
  /** Constructor keyword arguments, in order, for a node with these input shapes and parameters. */
  ctorArgs(inputs: PyInputShapes, params: P): readonly PyArg[];
  /** The block's input ports in the order its `forward` takes them. */
  readonly forwardInputs: readonly string[];
}

export const PYTORCH_HELPERS: Readonly<Record<PytorchHelper, string>> = {
  zero_module: `def zero_module(module: nn.Module) -> nn.Module:
    """Zeroes a module's parameters and returns it (guided-diffusion's zero_module)."""
    for p in module.parameters():
        p.detach().zero_()
    return module`,
  GroupNorm32: `class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32, the result cast back (guided-diffusion's GroupNorm32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)`,
};

/** A Python int literal. */
export function pyInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${String(n)}`);
  return String(n);
}

/** A Python float literal that reads back as the same double. */
export function pyFloat(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${String(n)}`);
  const s = String(n);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/**
 * A double-quoted Python string literal in printable ASCII: quotes, backslashes, control and
 * non-ASCII characters (lone surrogates included) escaped, so it cannot end a line, a comment or a
 * string early, wherever it is put.
 */
export function pyStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
