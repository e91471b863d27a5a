#!/usr/bin/env python3
"""Reference data for `template ldm` from the REAL latent-diffusion UNetModel of Stable Diffusion.

Two source trees are run (none of their code is in this repository):
  LDM_SRC  a checkout of https://github.com/CompVis/stable-diffusion   (the dir CONTAINING ldm/)
  SD2_SRC  a checkout of https://github.com/Stability-AI/stablediffusion (the dir CONTAINING ldm/)
(the same variables as make_blocks.py beside it).
Only ldm/modules/diffusionmodules/{openaimodel,util}.py, ldm/modules/attention.py and ldm/util.py
are imported. Both trees name their package `ldm`; the script imports one, keeps its classes, and
drops it from sys.modules before importing the other.

Import-time stand-ins: `einops` (not installed here) is standins/einops beside this script (shared
with make_blocks.py: exactly the rearrange patterns these files use, each a hand-written
reshape/permute);
`omegaconf.listconfig.ListConfig` (SD2's UNetModel imports it when context_dim is given) is an empty
class. xformers is absent, so SD2 uses its plain CrossAttention (its documented fallback).

Outputs (in this folder, deterministic: two runs give byte-identical files):
  sd1-keys.json / sd2-keys.json   the unet_config.params of v1-inference.yaml / v2-inference.yaml,
                                  the state_dict (key, shape) list in state_dict order and
                                  sum(p.numel() for p in model.parameters()).
  <case>.safetensors              small configs: the state_dict (every parameter re-drawn, so
                                  zero_module layers matter) + io.x, io.timesteps, io.context
                                  [, io.y], io.out (NCHW, float32).
  <case>.json                     kwargs, source, seeds, the (key, shape) list, counts, floor.

Usage (Debian bookworm's torch 1.13, in /usr/bin/python3):
  LDM_SRC=/tmp/ldm-src/sd1 SD2_SRC=/tmp/ldm-src/sd2 /usr/bin/python3 test/reference/ldm/make_templates.py
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the committed data

import gc
import hashlib
import json
import math
import os
import struct
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)

SOURCES = {
    "sd1": {
        "env": "LDM_SRC",
        "repo": "CompVis/stable-diffusion",
        "commit": "21f890f9da3cfbeaba8e2ac3c425ee9e998d5229",
        "files": {
            "ldm/modules/diffusionmodules/openaimodel.py": "2ff270f4e0c884d9684fa038f6d84d8600a94b39",
            "ldm/modules/attention.py": "e66308c7f2e64cb581c6d27ab6fbeb846828253b",
            "ldm/modules/diffusionmodules/util.py": "171cf29fb54afe048b03ec73da8abb9d102d0614",
            "ldm/util.py": "2ff270f4e0c884d9684fa038f6d84d8600a94b39",
        },
    },
    "sd2": {
        "env": "SD2_SRC",
        "repo": "Stability-AI/stablediffusion",
        "commit": "cf1d67a6fd5ea1aa600c4df58e5b47da45f6bdbf",
        "files": {
            "ldm/modules/diffusionmodules/openaimodel.py": "fa4401ece1bced3d237ecded5b8ad363f4ac3971",
            "ldm/modules/attention.py": "e1797ae248408ea47561eeb8755737f1e35784f2",
            "ldm/modules/diffusionmodules/util.py": "b4bdae9916f628461e1e4edbc62aafedebb9f7ed",
            "ldm/util.py": "b4bdae9916f628461e1e4edbc62aafedebb9f7ed",
        },
    },
}

# --------------------------------------------------------------------------------------
# Import-time stand-ins
# --------------------------------------------------------------------------------------


# einops is not installed here: the shared stand-in standins/einops (beside this script, also used
# by make_blocks.py) has exactly the rearrange patterns these files call; anything else raises.
sys.path.insert(0, os.path.join(HERE, "standins"))
import einops  # noqa: E402,F401

_omegaconf = types.ModuleType("omegaconf")
_listconfig = types.ModuleType("omegaconf.listconfig")


class ListConfig(list):
    """Stand-in: SD2's UNetModel only tests `type(context_dim) == ListConfig`."""


_listconfig.ListConfig = ListConfig
_omegaconf.listconfig = _listconfig
sys.modules.setdefault("omegaconf", _omegaconf)
sys.modules.setdefault("omegaconf.listconfig", _listconfig)


def load(which):
    """The UNetModel class and module of one source tree (sd1 or sd2)."""
    src = os.environ.get(SOURCES[which]["env"])
    if not src or not os.path.isdir(os.path.join(src, "ldm")):
        raise SystemExit(f"{SOURCES[which]['env']} must be a directory containing ldm/ ({SOURCES[which]['repo']})")
    for k in [k for k in sys.modules if k == "ldm" or k.startswith("ldm.")]:
        del sys.modules[k]
    sys.path.insert(0, src)
    try:
        import ldm.modules.diffusionmodules.openaimodel as om  # noqa: E402
        import ldm.modules.attention as attn  # noqa: E402
        import ldm.modules.diffusionmodules.util as util  # noqa: E402
    finally:
        sys.path.remove(src)
    if which == "sd2":
        assert not attn.XFORMERS_IS_AVAILBLE, "xformers must be absent (plain CrossAttention)"
    return types.SimpleNamespace(UNetModel=om.UNetModel, openaimodel=om, attention=attn, util=util)


# --------------------------------------------------------------------------------------
# The published configs (unet_config.params of the inference yamls, read from the trees)
# --------------------------------------------------------------------------------------

SD1_PARAMS = {  # CompVis/stable-diffusion configs/stable-diffusion/v1-inference.yaml
    "image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 320,
    "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4],
    "num_heads": 8, "use_spatial_transformer": True, "transformer_depth": 1, "context_dim": 768,
    "use_checkpoint": True, "legacy": False,
}
SD2_PARAMS = {  # Stability-AI/stablediffusion configs/stable-diffusion/v2-inference.yaml
    "use_checkpoint": True, "use_fp16": True, "image_size": 32, "in_channels": 4, "out_channels": 4,
    "model_channels": 320, "attention_resolutions": [4, 2, 1], "num_res_blocks": 2,
    "channel_mult": [1, 2, 4, 4], "num_head_channels": 64, "use_spatial_transformer": True,
    "use_linear_in_transformer": True, "transformer_depth": 1, "context_dim": 1024, "legacy": False,
}


def yaml_unet_params(src, rel):
    """The unet_config.params block of an inference yaml as {key: text}, read line by line (no yaml module)."""
    lines = open(os.path.join(src, rel), encoding="utf-8").read().splitlines()
    out, inside, indent = {}, False, None
    for i, line in enumerate(lines):
        if line.strip() == "unet_config:":
            inside = "target"
            continue
        if inside == "target" and line.strip() == "params:":
            inside = True
            continue
        if inside is True:
            if not line.strip():
                continue
            ind = len(line) - len(line.lstrip())
            indent = ind if indent is None else indent
            if ind < indent:
                break
            key, _, val = line.strip().partition(":")
            out[key] = val.split("#")[0].strip()
    return out


def check_yaml(params, text):
    """Asserts the hand-written kwargs equal the yaml's block (so the JSON states what the yaml says)."""
    assert set(params) == set(text), (sorted(params), sorted(text))
    for k, v in params.items():
        t = text[k]
        if isinstance(v, bool):
            assert t == ("True" if v else "False"), (k, t)
        elif isinstance(v, list):
            assert [int(x) for x in t.strip("[] ").split(",")] == v, (k, t)
        else:
            assert int(t) == v, (k, t)


def listing(model):
    sd = model.state_dict()
    buffers = [n for n, _ in model.named_buffers()]
    assert not buffers, buffers
    return [[k, list(v.shape)] for k, v in sd.items()]


def sha_listing(lst):
    return hashlib.sha256("".join(f"{k}:{'x'.join(map(str, s))}\n" for k, s in lst).encode()).hexdigest()


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_published(which, params, yaml_rel):
    env = load(which)
    src = os.environ[SOURCES[which]["env"]]
    check_yaml(params, yaml_unet_params(src, yaml_rel))
    torch.manual_seed(0)  # the default init draws random numbers; only shapes are recorded
    model = env.UNetModel(**params)
    lst = listing(model)
    n = sum(p.numel() for p in model.parameters())
    meta = {
        "name": f"{which}-unet",
        "source": {"repo": SOURCES[which]["repo"], "commit": SOURCES[which]["commit"], "files": SOURCES[which]["files"], "yaml": yaml_rel},
        "unet_config_params": params,
        "num_parameters": n,
        "num_state_dict_tensors": len(lst),
        "state_dict_sha256": sha_listing(lst),
        "state_dict": lst,
        "torch_version": torch.__version__,
    }
    write_text(os.path.join(HERE, f"{which}-keys.json"), json.dumps(meta, indent=1) + "\n")
    print(f"{which}: {n:,} parameters, {len(lst)} tensors")
    del model
    gc.collect()


# --------------------------------------------------------------------------------------
# Small parity cases
# --------------------------------------------------------------------------------------

BATCH = 2
TIMESTEPS = [3, 517]
LABELS = [1, 4]
TOKENS = 8
PARAM_SEED_BASE = 3000
INPUT_SEED_BASE = 4000

CASES = [
    {
        "name": "ldm-sd1-depth2",
        "source": "sd1",
        "exercises": "CompVis SD1 code: SpatialTransformer (conv proj_in/proj_out) with transformer_depth 2, num_heads 2, legacy True, attention at ds 2 (and the middle)",
        "image_size": 8,
        "kwargs": {
            "image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 32,
            "attention_resolutions": [2], "num_res_blocks": 1, "channel_mult": [1, 1],
            "num_heads": 2, "use_spatial_transformer": True, "transformer_depth": 2, "context_dim": 24,
            "use_checkpoint": False, "legacy": True,
        },
    },
    {
        "name": "ldm-sd2-linear",
        "source": "sd2",
        "exercises": "Stability SD2 code: use_linear_in_transformer, num_head_channels 16 (2 heads of 16), legacy False, per-level num_res_blocks [2, 1], attention at ds 1 (and the middle)",
        "image_size": 8,
        "kwargs": {
            "image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 32,
            "attention_resolutions": [1], "num_res_blocks": [2, 1], "channel_mult": [1, 1],
            "num_head_channels": 16, "use_spatial_transformer": True, "use_linear_in_transformer": True,
            "transformer_depth": 1, "context_dim": 24, "use_checkpoint": False, "legacy": False,
        },
    },
    {
        "name": "ldm-classcond-attn",
        "source": "sd2",
        "exercises": "Stability SD2 code without the spatial transformer: AttentionBlock with legacy False (num_head_channels = ch // num_heads), num_heads 2, class-conditional (num_classes 5), use_scale_shift_norm, attention at ds 2",
        "image_size": 8,
        "kwargs": {
            "image_size": 8, "in_channels": 3, "out_channels": 3, "model_channels": 32,
            "attention_resolutions": [2], "num_res_blocks": 1, "channel_mult": [1, 1],
            "num_heads": 2, "num_classes": 5, "use_scale_shift_norm": True, "legacy": False,
        },
    },
]

# Structure only (key/shape listing and parameter count): corners of the kwargs that the parity
# cases do not cover.
STRUCTURE = [
    {"name": "sd1-depth3-headch", "source": "sd1", "kwargs": {
        "image_size": 16, "in_channels": 4, "out_channels": 4, "model_channels": 64, "attention_resolutions": [2, 4],
        "num_res_blocks": 2, "channel_mult": [1, 2, 3], "num_head_channels": 32, "use_spatial_transformer": True,
        "transformer_depth": 3, "context_dim": 40, "legacy": False}},
    {"name": "sd2-legacy-attn-heads", "source": "sd2", "kwargs": {
        "image_size": 16, "in_channels": 3, "out_channels": 6, "model_channels": 64, "attention_resolutions": [1, 2],
        "num_res_blocks": 2, "channel_mult": [1, 2], "num_heads": 4, "num_heads_upsample": 2, "legacy": True,
        "resblock_updown": True}},
    {"name": "sd2-conv-headch-mult3", "source": "sd2", "kwargs": {
        "image_size": 16, "in_channels": 4, "out_channels": 4, "model_channels": 32, "attention_resolutions": [2],
        "num_res_blocks": [2, 1], "channel_mult": [1, 3], "num_head_channels": 24, "use_spatial_transformer": True,
        "transformer_depth": 1, "context_dim": 16, "legacy": True, "conv_resample": False}},
]

INIT_DESCRIPTION = (
    "Every parameter re-initialised (so zero_module layers are not zero), visiting model.named_modules() "
    "in order with one torch.Generator(manual_seed=param_seed) and torch.randn: Conv/Linear weight ~ "
    "randn * sqrt(1/fan_in), Conv/Linear bias ~ 0.1*randn, GroupNorm and LayerNorm weight ~ 1 + 0.1*randn, "
    "bias ~ 0.1*randn, Embedding weight ~ 0.5*randn."
)


def reinit_(model, seed):
    g = torch.Generator().manual_seed(seed)
    seen = set()
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(1.0 / fan_in))
                seen.add(id(m.weight))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                    seen.add(id(m.bias))
            elif isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                seen.update((id(m.weight), id(m.bias)))
            elif isinstance(m, torch.nn.Embedding):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=g))
                seen.add(id(m.weight))
    missing = [n for n, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise SystemExit(f"parameters not re-initialised: {missing}")


def st_bytes(tensors, metadata):
    """{name: np.ndarray} as .safetensors (header sorted by key, data in header order, padded to 8)."""
    dt = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}
    header = {"__metadata__": metadata}
    chunks, off = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.tobytes(order="C")
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(chunks)


class Float64Forward:
    """The float64 re-run: lifts the sources' hard-coded float32 casts for that run only (no file edited):
    model.dtype (read by `h = x.type(self.dtype)`), Tensor.float (GroupNorm32, SD2's q/k upcast) and
    the openaimodel module's timestep_embedding (float32 sinusoids) evaluated in float64."""

    def __init__(self, env, model):
        self.env, self.model = env, model

    def __enter__(self):
        self.had_float = "float" in torch.Tensor.__dict__
        self.orig_float = torch.Tensor.__dict__.get("float")
        self.orig_emb = self.env.openaimodel.timestep_embedding
        self.orig_dtype = self.model.dtype
        torch.Tensor.float = lambda self_, *a, **k: self_

        def emb64(timesteps, dim, max_period=10000, repeat_only=False):
            assert not repeat_only
            half = dim // 2
            freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float64) / half)
            args = timesteps[:, None].to(torch.float64) * freqs[None]
            emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
            if dim % 2:
                emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
            return emb

        self.env.openaimodel.timestep_embedding = emb64
        self.model.dtype = torch.float64
        return self

    def __exit__(self, *exc):
        if self.had_float:
            torch.Tensor.float = self.orig_float
        else:
            del torch.Tensor.float
        self.env.openaimodel.timestep_embedding = self.orig_emb
        self.model.dtype = self.orig_dtype
        assert torch.ones(1, dtype=torch.float64).float().dtype == torch.float32
        return False


def write_case(idx, case, env):
    kw = case["kwargs"]
    model = env.UNetModel(**kw)
    reinit_(model, PARAM_SEED_BASE + idx)
    model.eval()
    lst = listing(model)
    n = sum(p.numel() for p in model.parameters())

    g = torch.Generator().manual_seed(INPUT_SEED_BASE + idx)
    s = case["image_size"]
    x = torch.randn((BATCH, kw["in_channels"], s, s), generator=g)
    t = torch.tensor(TIMESTEPS, dtype=torch.int64)
    ctx = torch.randn((BATCH, TOKENS, kw["context_dim"]), generator=g) if kw.get("context_dim") else None
    y = torch.tensor(LABELS, dtype=torch.int64) if kw.get("num_classes") is not None else None
    with torch.no_grad():
        out = model(x, t, context=ctx, y=y)
        again = model(x, t, context=ctx, y=y)
    assert out.dtype == torch.float32 and torch.equal(out, again)

    m64 = model.double()
    with torch.no_grad(), Float64Forward(env, m64):
        out64 = m64(x.double(), t, context=None if ctx is None else ctx.double(), y=y)
    assert out64.dtype == torch.float64
    model = m64.float()

    tensors = {k: v.detach().numpy().astype("<f4") for k, v in model.state_dict().items()}
    tensors["io.x"] = x.numpy().astype("<f4")
    tensors["io.timesteps"] = t.numpy().astype("<i8")
    if ctx is not None:
        tensors["io.context"] = ctx.numpy().astype("<f4")
    if y is not None:
        tensors["io.y"] = y.numpy().astype("<i8")
    tensors["io.out"] = out.numpy().astype("<f4")
    blob = st_bytes(tensors, {"format": "pt", "fixture": case["name"], "producer": "test/reference/ldm/make_templates.py"})
    assert len(blob) < 2_000_000, f"{case['name']}: {len(blob)} bytes"
    with open(os.path.join(HERE, case["name"] + ".safetensors"), "wb") as f:
        f.write(blob)
    src = SOURCES[case["source"]]
    meta = {
        "name": case["name"],
        "exercises": case["exercises"],
        "source": {"repo": src["repo"], "commit": src["commit"], "files": src["files"]},
        "kwargs": kw,
        "image_size": s,
        "batch": BATCH,
        "tokens": TOKENS if ctx is not None else None,
        "timesteps": TIMESTEPS,
        "y": LABELS if y is not None else None,
        "param_seed": PARAM_SEED_BASE + idx,
        "input_seed": INPUT_SEED_BASE + idx,
        "init": INIT_DESCRIPTION,
        "inputs": "g = torch.Generator().manual_seed(input_seed); io.x = randn((batch, in_channels, S, S), generator=g); "
                  "then io.context = randn((batch, tokens, context_dim), generator=g); io.timesteps, io.y as listed",
        "forward": "model.eval(); torch.no_grad(); float32; out = model(io.x, io.timesteps, context=io.context, y=io.y)",
        "num_parameters": n,
        "num_state_dict_tensors": len(lst),
        "state_dict_sha256": sha_listing(lst),
        "state_dict": lst,
        "out_max_abs": float(out.abs().max()),
        "precision_floor": {"max_abs_diff_float32_vs_float64": float((out.double() - out64).abs().max())},
        "safetensors_bytes": len(blob),
        "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
        "torch_version": torch.__version__,
    }
    write_text(os.path.join(HERE, case["name"] + ".json"), json.dumps(meta, indent=1) + "\n")
    print(f"{case['name']}: {n:,} params, {len(blob):,} bytes, |out| max {meta['out_max_abs']:.3f}, "
          f"floor {meta['precision_floor']['max_abs_diff_float32_vs_float64']:.2e}")


def write_structure(entries):
    out = []
    for e in entries:
        env = load(e["source"])
        model = env.UNetModel(**e["kwargs"])
        lst = listing(model)
        src = SOURCES[e["source"]]
        out.append({"name": e["name"], "source": {"repo": src["repo"], "commit": src["commit"]}, "kwargs": e["kwargs"],
                    "num_parameters": sum(p.numel() for p in model.parameters()),
                    "num_state_dict_tensors": len(lst), "state_dict": lst})
        print(f"{e['name']}: {out[-1]['num_parameters']:,} params")
    write_text(os.path.join(HERE, "structure.json"), json.dumps({"configs": out}, indent=1) + "\n")


def main():
    print(f"torch {torch.__version__}")
    only = sys.argv[1:]
    if not only or "cases" in only:
        envs = {}
        for i, c in enumerate(CASES):
            envs.setdefault(c["source"], load(c["source"]))
            write_case(i, c, envs[c["source"]])
        write_structure(STRUCTURE)
    if not only or "published" in only:
        write_published("sd1", SD1_PARAMS, "configs/stable-diffusion/v1-inference.yaml")
        write_published("sd2", SD2_PARAMS, "configs/stable-diffusion/v2-inference.yaml")


if __name__ == "__main__":
    main()
