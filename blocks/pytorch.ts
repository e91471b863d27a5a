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
export type PytorchHelper = 'zero_module' | 'GroupNorm32' | 'ldm_transformer';

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
  ldm_transformer: `class GEGLU(nn.Module):
    """latent-diffusion's GEGLU: one Linear to twice the width, value half times the exact (erf) GELU of the gate half."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    """latent-diffusion's FeedForward(dim, glu=True): net = [GEGLU(dim, 4 dim), Dropout (kept for its index), Linear(4 dim, dim)]."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        inner_dim = int(dim * mult)
        self.net = nn.Sequential(GEGLU(dim, inner_dim), nn.Dropout(0.0), nn.Linear(inner_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """latent-diffusion's CrossAttention: q from x, k and v from the context (x when None), no biases;
    scores q.k^T * dim_head^-0.5, softmax over keys; heads split the inner dim as (h d); to_out.0 with bias."""

    def __init__(self, query_dim: int, context_dim: Optional[int] = None, heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        inner_dim = dim_head * heads
        context_dim = query_dim if context_dim is None else context_dim
        self.scale = dim_head ** -0.5
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, query_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.heads
        q = self.to_q(x)
        context = x if context is None else context
        k = self.to_k(context)
        v = self.to_v(context)

        def split(t: torch.Tensor) -> torch.Tensor:
            b, n, _ = t.shape
            return t.reshape(b, n, h, -1).permute(0, 2, 1, 3).reshape(b * h, n, -1)

        q, k, v = split(q), split(k), split(v)
        sim = torch.einsum("b i d, b j d -> b i j", q.float(), k.float()) * self.scale
        attn = sim.softmax(dim=-1)
        out = torch.einsum("b i j, b j d -> b i d", attn, v)
        bh, n, d = out.shape
        out = out.reshape(bh // h, h, n, d).permute(0, 2, 1, 3).reshape(bh // h, n, h * d)
        return self.to_out(out)


class BasicTransformerBlock(nn.Module):
    """latent-diffusion's BasicTransformerBlock: x = attn1(norm1(x)) + x; x = attn2(norm2(x), context) + x;
    x = ff(norm3(x)) + x (LayerNorm eps 1e-5, GEGLU feed-forward)."""

    def __init__(self, dim: int, n_heads: int, d_head: int, context_dim: Optional[int] = None, diffusers_order: bool = False) -> None:
        super().__init__()
        # Registration order is the state_dict order: ldm's attn1, ff, attn2, norm1-3; diffusers' norm1, attn1, norm2, attn2, norm3, ff.
        order = ("norm1", "attn1", "norm2", "attn2", "norm3", "ff") if diffusers_order else ("attn1", "ff", "attn2", "norm1", "norm2", "norm3")
        make = {
            "attn1": lambda: CrossAttention(query_dim=dim, heads=n_heads, dim_head=d_head),
            "ff": lambda: FeedForward(dim),
            "attn2": lambda: CrossAttention(query_dim=dim, context_dim=context_dim, heads=n_heads, dim_head=d_head),
            "norm1": lambda: nn.LayerNorm(dim),
            "norm2": lambda: nn.LayerNorm(dim),
            "norm3": lambda: nn.LayerNorm(dim),
        }
        for name in order:
            self.add_module(name, make[name]())

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context=context) + x
        x = self.ff(self.norm3(x)) + x
        return x`,
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
