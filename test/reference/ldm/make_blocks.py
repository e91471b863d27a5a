#!/usr/bin/env python3
"""Reference data for UNet Studio's SpatialTransformer / Transformer2DModel blocks, made with the REAL code.

Usage (Debian's torch 1.13; plain `python3` may be an interpreter without torch):

  LDM_SRC=/path/to/CompVis/stable-diffusion \\
  SD2_SRC=/path/to/Stability-AI/stablediffusion \\
  DIFFUSERS_SRC=/path/to/huggingface/diffusers \\
  [LDM_COMMIT=… SD2_COMMIT=… DIFFUSERS_COMMIT=…]  (for trees that are not git checkouts) \\
  /usr/bin/python3 test/reference/ldm/make_blocks.py

Each *_SRC is a source tree on disk (the repository root; for diffusers the root or its src/).
Nothing of those sources is copied into this repository: the script imports `ldm.modules.attention`
from LDM_SRC, then (after forgetting every `ldm.*` module) from SD2_SRC, and diffusers'
`Transformer2DModel` through ../diffusers/diffusers_env.py (the stand-in loader the diffusers
reference data uses). einops is not installed here: `standins/einops` (beside this script) is a
stand-in for the few rearrange patterns the attention code runs, documented there. xformers is
absent, so ldm uses its plain `CrossAttention` (SD2 picks it by itself when xformers is missing).

Each case (see CASES) builds the real module, fills EVERY parameter with seeded random values
(ldm zero-initialises proj_out, which would hide bugs; the GroupNorm/LayerNorm affines are random
too), runs it in eval mode on random x and context, and writes <case>.safetensors with the
module's state_dict under its own keys, plus io.x (NCHW), io.context and io.out. cases.json lists
the cases: the block type and parameters for UNet Studio, the source and commit, the shapes.
Deterministic: two runs give byte-identical files.
"""

import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "standins"))
sys.path.insert(0, os.path.join(HERE, "..", "diffusers"))

from diffusers_env import load_diffusers, st_serialize  # noqa: E402

torch.set_num_threads(2)

# (name, source, module kwargs, UNet Studio block type + params, x shape NCHW, context shape)
CASES = [
    # CompVis SD 1.x code: 1x1 conv projections, inner = C.
    ("ldm-basic", "ldm", dict(in_channels=32, n_heads=2, d_head=16, depth=1, context_dim=48),
     ("SpatialTransformer", dict(n_heads=2, d_head=16, depth=1, use_linear=False)), (2, 32, 4, 4), (2, 8, 48)),
    # CompVis: n_heads * d_head != C, a non-square map (token order), batch 1.
    ("ldm-inner", "ldm", dict(in_channels=64, n_heads=3, d_head=8, depth=1, context_dim=40),
     ("SpatialTransformer", dict(n_heads=3, d_head=8, depth=1, use_linear=False)), (1, 64, 3, 5), (1, 5, 40)),
    # Stability-AI SD 2.x code: use_linear, depth 2. (Its proj_out is nn.Linear(in_channels, inner_dim),
    # which only runs when inner == C, as in every SD 2.x config; UNet Studio's weight is [C, inner].
    # With depth > 1 this code indexes context_dim and the context per block: both are given as lists.)
    ("sd2-linear", "sd2", dict(in_channels=32, n_heads=4, d_head=8, depth=2, context_dim=[24, 24], use_linear=True,
                               use_checkpoint=False),
     ("SpatialTransformer", dict(n_heads=4, d_head=8, depth=2, use_linear=True)), (2, 32, 3, 4), (2, 6, 24)),
    # diffusers Transformer2DModel, linear projections with inner != C.
    ("df-transformer2d", "diffusers", dict(num_attention_heads=2, attention_head_dim=24, in_channels=32, num_layers=1,
                                           cross_attention_dim=20, use_linear_projection=True),
     ("Transformer2DModel", dict(num_attention_heads=2, attention_head_dim=24, num_layers=1,
                                 use_linear_projection=True)), (2, 32, 4, 3), (2, 7, 20)),
    # diffusers Transformer2DModel, 1x1 conv projections, two layers.
    ("df-transformer2d-conv", "diffusers", dict(num_attention_heads=1, attention_head_dim=32, in_channels=32,
                                                num_layers=2, cross_attention_dim=16),
     ("Transformer2DModel", dict(num_attention_heads=1, attention_head_dim=32, num_layers=2,
                                 use_linear_projection=False)), (1, 32, 2, 3), (1, 3, 16)),
]


def commit_of(src, env_name):
    """The tree's commit: <env_name> when set (a plain export of the tree), else `git rev-parse HEAD` there."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    try:
        return subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown (not a git checkout; set " + env_name + ")"


def import_ldm(src):
    """ldm.modules.attention from the tree at `src` (forgetting any ldm imported before)."""
    for k in [k for k in sys.modules if k == "ldm" or k.startswith("ldm.")]:
        del sys.modules[k]
    sys.path.insert(0, src)
    try:
        import ldm.modules.attention as attention  # noqa: E402
    finally:
        sys.path.remove(src)
    if not os.path.abspath(attention.__file__).startswith(os.path.abspath(src)):
        raise SystemExit(f"imported {attention.__file__}, not from {src}")
    return attention


def randomise(module, seed):
    """Every parameter random: weights N(0, 1/fan_in), biases N(0, 0.5^2), norm scales 1 + N(0, 0.3^2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                is_norm_scale = name.endswith("weight")  # 1-D weights are GroupNorm / LayerNorm scales
                v = torch.randn(p.shape, generator=g) * (0.3 if is_norm_scale else 0.5)
                p.copy_(v + 1.0 if is_norm_scale else v)
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def main():
    srcs = {k: os.environ.get(v) for k, v in (("ldm", "LDM_SRC"), ("sd2", "SD2_SRC"))}
    for k, v in srcs.items():
        if not v or not os.path.exists(os.path.join(v, "ldm", "modules", "attention.py")):
            raise SystemExit(f"set {k.upper()}_SRC to a source tree holding ldm/modules/attention.py")
    env = load_diffusers()
    from diffusers.models.transformers.transformer_2d import Transformer2DModel  # noqa: E402

    listing = []
    for i, (name, source, kwargs, (block, params), xshape, cshape) in enumerate(CASES):
        if source == "diffusers":
            torch.manual_seed(0)
            module = Transformer2DModel(**kwargs)
            where = "huggingface/diffusers src/diffusers/models/transformers/transformer_2d.py"
            commit = commit_of(env.src, "DIFFUSERS_COMMIT")
        else:
            attention = import_ldm(srcs[source])
            torch.manual_seed(0)
            module = attention.SpatialTransformer(**kwargs)
            if getattr(attention, "XFORMERS_IS_AVAILBLE", False):
                raise SystemExit("xformers is installed: this generator wants the plain CrossAttention")
            repo = "CompVis/stable-diffusion" if source == "ldm" else "Stability-AI/stablediffusion"
            where, commit = f"{repo} ldm/modules/attention.py", commit_of(srcs[source], source.upper() + "_COMMIT")
        module.eval()
        randomise(module, 1000 + i)
        g = torch.Generator().manual_seed(2000 + i)
        x = torch.randn(xshape, generator=g)
        context = torch.randn(cshape, generator=g)
        with torch.no_grad():
            if source == "diffusers":
                out = module(x, encoder_hidden_states=context, return_dict=False)[0]
            elif isinstance(kwargs["context_dim"], list):
                out = module(x, context=[context] * len(kwargs["context_dim"]))
            else:
                out = module(x, context=context)
        sd = module.state_dict()
        tensors = {k: v.float() for k, v in sd.items()}
        tensors.update({"io.x": x, "io.context": context, "io.out": out})
        data = st_serialize(tensors, {"case": name})
        if len(data) > 300_000:
            raise SystemExit(f"{name}: {len(data)} bytes, keep cases under 300 KB")
        with open(os.path.join(HERE, f"{name}.safetensors"), "wb") as f:
            f.write(data)
        listing.append({
            "name": name,
            "block": block,
            "params": params,
            "reference": where,
            "commit": commit,
            "module_kwargs": kwargs,
            "x": list(xshape),
            "context": list(cshape),
            "state_dict_keys": list(sd.keys()),
            "num_parameters": sum(p.numel() for p in module.parameters()),
            "out_abs_max": float(out.abs().max()),
        })
        print(f"{name}: {len(data)} bytes, |out| max {float(out.abs().max()):.3f}")
    with open(os.path.join(HERE, "cases.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"torch": torch.__version__, "cases": listing}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
