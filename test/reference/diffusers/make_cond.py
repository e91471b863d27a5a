#!/usr/bin/env python3
"""Reference data for `template diffusers` with UNet2DConditionModel configs, from the REAL diffusers code.

Usage (Debian bookworm's torch 1.13; plain `python3` may be a shim without torch):

  DIFFUSERS_SRC=/path/to/diffusers /usr/bin/python3 test/reference/diffusers/make_cond.py

It imports make_reference.py (same folder) for the diffusers environment (diffusers_env.py: the real
package on torch 1.13, stubs for hub plumbing only), its float64 precision-floor run and its helpers;
see make_reference.py's docstring and README.md. Outputs (deterministic, in this folder):

  cond-sd15-keys.json   runwayml/stable-diffusion-v1-5's unet/config.json, the config as save_config
                        writes it, and the real UNet2DConditionModel's state_dict as [key, shape] in
                        state_dict order with its parameter count (built once on CPU; its default
                        initialisation is skipped because only shapes are recorded).
  cond-<case>.safetensors + .json
                        small UNet2DConditionModel configs with every parameter re-drawn (LayerNorms
                        included), io.x F32 [2, 4, S, S], io.timesteps I64 [3, 517],
                        io.context F32 [2, 8, 24] (encoder_hidden_states), io.out F32 NCHW.

The case files are named cond-*, not df-*: test/diffusers-cases.ts reads every df-*.json as a
UNet2DModel case.
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the committed data

import gc
import hashlib
import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_reference as mr  # noqa: E402  (loads the real diffusers through diffusers_env)
from diffusers_env import st_serialize  # noqa: E402
from diffusers.models.unets import unet_2d_condition  # noqa: E402  (the real module, imported from DIFFUSERS_SRC)

UNet2DConditionModel = unet_2d_condition.UNet2DConditionModel

# runwayml/stable-diffusion-v1-5, unet/config.json, verbatim (diffusers 0.6.0 wrote it).
SD15_CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

BATCH = 2
TIMESTEPS = [3, 517]
TOKENS = 8
PARAM_SEED_BASE = 5000
INPUT_SEED_BASE = 6000


def cfg(**kw):
    base = {"_class_name": "UNet2DConditionModel", "in_channels": 4, "out_channels": 4, "cross_attention_dim": 24,
            "block_out_channels": [32, 32], "layers_per_block": 1, "norm_num_groups": 32}
    base.update(kw)
    return base


CASES = [
    {
        "name": "cond-conv",
        "covers": "CrossAttnDownBlock2D + DownBlock2D / UpBlock2D + CrossAttnUpBlock2D, UNetMidBlock2DCrossAttn; "
                  "attention_head_dim a list [2, 4] (heads per level: 2 of 16 at level 0, 4 of 8 in the middle "
                  "and, reversed, 2 in up_blocks.1), conv proj_in/proj_out, transformer_layers_per_block 1, "
                  "layers_per_block 1, 8x8",
        "size": 8,
        "config": cfg(sample_size=8, down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                      up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], attention_head_dim=[2, 4]),
    },
    {
        "name": "cond-linear",
        "covers": "use_linear_projection true, transformer_layers_per_block [2, 1] (depth 2 at level 0, the "
                  "middle 1), layers_per_block [1, 2] (up blocks: reversed, plus one), attention_head_dim [3, 4] (3 heads of 32 // 3 = 10: inner 30 != 32 channels), "
                  "upcast_attention true (a no-op in float32), time_embedding_dim 64, downsample_padding 0, "
                  "mid_block_scale_factor 2, 16x16",
        "size": 16,
        "config": cfg(sample_size=16, down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                      up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], attention_head_dim=[3, 4], layers_per_block=[1, 2],
                      transformer_layers_per_block=[2, 1], use_linear_projection=True, upcast_attention=True,
                      time_embedding_dim=64, downsample_padding=0, mid_block_scale_factor=2),
    },
]

INIT_DESCRIPTION = (
    "Every parameter re-drawn after construction, visiting model.named_modules() in order with one "
    "torch.Generator().manual_seed(param_seed): Conv2d/Linear weight ~ randn*sqrt(1/fan_in) (fan_in = "
    "weight[0].numel()), Conv2d/Linear bias ~ 0.1*randn, GroupNorm and LayerNorm weight ~ 1+0.1*randn, "
    "bias ~ 0.1*randn, Embedding weight ~ 0.5*randn."
)


def reinit_(model, seed):
    g = torch.Generator().manual_seed(seed)
    seen = set()
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
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


def build(config):
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    model = UNet2DConditionModel(**kwargs)
    if list(model.named_buffers()):
        raise SystemExit(f"unexpected buffers: {[n for n, _ in model.named_buffers()]}")
    return model


def key_listing(sd):
    return [[k, list(v.shape)] for k, v in sd.items()]


class SkipInit:
    """torch.nn.init's in-place initialisers as no-ops while the 860M-parameter model is built (only its
    state_dict's keys and shapes are recorded; the module tree does not depend on the values)."""

    NAMES = ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_", "xavier_uniform_", "constant_")

    def __enter__(self):
        self.saved = {n: getattr(torch.nn.init, n) for n in self.NAMES}
        for n in self.NAMES:
            setattr(torch.nn.init, n, lambda t, *a, **k: t)
        return self

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(torch.nn.init, n, f)
        return False


def write_sd15():
    with SkipInit():
        model = build(SD15_CONFIG)
    mr.check_processors(model)
    sd = model.state_dict()
    lst = key_listing(sd)
    n = sum(p.numel() for p in model.parameters())
    meta = {
        "name": "runwayml/stable-diffusion-v1-5 unet",
        "hub_config": SD15_CONFIG,
        "saved_config": json.loads(model.to_json_string()),
        "num_parameters": n,
        "num_state_dict_tensors": len(lst),
        "state_dict_sha256": mr.sha("".join(f"{k}:{'x'.join(map(str, s))}\n" for k, s in lst)),
        "state_dict": lst,
        "diffusers_commit": mr.DIFFUSERS_COMMIT,
        "diffusers_version": mr.ENV.version,
        "torch_version": torch.__version__,
    }
    mr.write_text(os.path.join(HERE, "cond-sd15-keys.json"), json.dumps(meta, indent=1) + "\n")
    print(f"sd15: {n:,} parameters, {len(lst)} tensors")
    del model, sd
    gc.collect()


def write_case(idx, case):
    name = case["name"]
    param_seed, input_seed = PARAM_SEED_BASE + idx, INPUT_SEED_BASE + idx
    model = build(case["config"])
    mr.check_processors(model)
    reinit_(model, param_seed)
    model.eval()
    config_json = model.to_json_string()
    config = json.loads(config_json)

    g = torch.Generator().manual_seed(input_seed)
    s = case["size"]
    x = torch.randn((BATCH, config["in_channels"], s, s), generator=g, dtype=torch.float32)
    ctx = torch.randn((BATCH, TOKENS, config["cross_attention_dim"]), generator=g, dtype=torch.float32)
    t = torch.tensor(TIMESTEPS, dtype=torch.int64)
    with torch.no_grad():
        out = model(x, t, encoder_hidden_states=ctx).sample
        again = model(x, t, encoder_hidden_states=ctx).sample
    assert out.dtype == torch.float32 and torch.equal(out, again)

    sd = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    model64 = build(case["config"]).double()
    model64.load_state_dict({k: v.double() for k, v in sd.items()}, strict=True)
    model64.eval()
    with torch.no_grad(), mr.Float64Run(True):
        out64 = model64(x.double(), t, encoder_hidden_states=ctx.double()).sample
    assert out64.dtype == torch.float64

    tensors = {k: v.detach().numpy().astype("<f4") for k, v in sd.items()}
    tensors["io.x"] = x.numpy().astype("<f4")
    tensors["io.timesteps"] = t.numpy().astype("<i8")
    tensors["io.context"] = ctx.numpy().astype("<f4")
    tensors["io.out"] = out.numpy().astype("<f4")
    blob = st_serialize(tensors, {"format": "pt", "case": name, "producer": "test/reference/diffusers/make_cond.py"})
    assert len(blob) < 2_000_000, f"{name}: {len(blob)} bytes"
    mr.write_bytes(os.path.join(HERE, name + ".safetensors"), blob)
    lst = key_listing(sd)
    meta = {
        "name": name,
        "covers": case["covers"],
        "model_class": "UNet2DConditionModel",
        "config": config,
        "config_json": config_json,
        "image_size": s,
        "batch": BATCH,
        "tokens": TOKENS,
        "param_seed": param_seed,
        "input_seed": input_seed,
        "init": INIT_DESCRIPTION,
        "inputs": "g = torch.Generator().manual_seed(input_seed); io.x = randn((batch, in_channels, S, S), generator=g); "
                  "io.context = randn((batch, tokens, cross_attention_dim), generator=g); io.timesteps as listed",
        "timesteps": TIMESTEPS,
        "forward": "model.eval(); torch.no_grad(); float32; out = model(io.x, io.timesteps, encoder_hidden_states=io.context).sample",
        "attention_processor": "AttnProcessor",
        "num_parameters": n_params,
        "num_state_dict_tensors": len(sd),
        "state_dict": lst,
        "out_max_abs": float(out.abs().max().item()),
        "precision_floor": {"max_abs_diff_float32_vs_float64": mr.max_abs(out, out64)},
        "safetensors_bytes": len(blob),
        "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
        "diffusers_commit": mr.DIFFUSERS_COMMIT,
        "diffusers_version": mr.ENV.version,
        "torch_version": torch.__version__,
    }
    mr.write_text(os.path.join(HERE, name + ".json"), json.dumps(meta, indent=1) + "\n")
    print(f"{name}: {n_params:,} params, {len(blob):,} bytes, |out| max {meta['out_max_abs']:.3f}, "
          f"floor {meta['precision_floor']['max_abs_diff_float32_vs_float64']:.2e}")
    del model, model64
    gc.collect()


def main():
    print(f"torch {torch.__version__}, diffusers {mr.ENV.version}")
    only = sys.argv[1:]
    if not only or "cases" in only:
        for i, c in enumerate(CASES):
            write_case(i, c)
    if not only or "sd15" in only:
        write_sd15()


if __name__ == "__main__":
    main()
