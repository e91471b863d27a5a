#!/usr/bin/env python3
"""Generate UNet Studio's reference data from the REAL huggingface/diffusers UNet2DModel.

Usage (Debian bookworm's torch 1.13; plain `python3` may be a shim without torch):

  DIFFUSERS_SRC=/path/to/diffusers /usr/bin/python3 test/reference/diffusers/make_reference.py

DIFFUSERS_SRC is a huggingface/diffusers source tree (the repository root or its src/).
None of diffusers' source is in this repository. diffusers_env.py (beside this script) makes
the real package importable on torch 1.13 without huggingface_hub/safetensors; it stubs only
hub/config/packaging plumbing and never touches numerics (see its docstring and README.md).

Outputs, all in this folder, deterministic (two runs give byte-identical files):
  published-configs.json   google/ddpm-* UNet2DModel configs: parameter count, state_dict
                           tensor count, sha256 of the "key:shape" listing (modern and legacy
                           attention names), and the config as current save_config writes it.
  cifar10-keys.txt         the "key:shape" listing for google/ddpm-cifar10-32 (state_dict order).
  <case>.safetensors       state_dict under its own keys + io.x, io.timesteps, [io.y], io.out.
  <case>.json              config (exactly as to_json_string writes it), seeds, counts, floor.

Precision floor: the same model and inputs are re-run in float64 (model.double()). The reference
hard-codes float32 in two places; for that run only they are lifted at runtime (no file edited):
  * torch.Tensor.float -> identity (Attention's upcast_softmax / upcast_attention casts),
  * diffusers.models.embeddings.get_timestep_embedding -> the same formula in float64.
A second float64 run keeps diffusers' float32 sinusoidal embedding (upcast) to isolate its share.
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the committed data

import gc
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from diffusers_env import STUB_LOG, TORCH_POLYFILLS, load_diffusers, st_serialize  # noqa: E402

torch.set_num_threads(2)
ENV = load_diffusers()
UNet2DModel = ENV.UNet2DModel
AP = ENV.attention_processor

DIFFUSERS_COMMIT = "58eb52c0803ea9af3abec60841c2a093bdf1f951"  # see README.md (provenance)

LEGACY = (("to_q.", "query."), ("to_k.", "key."), ("to_v.", "value."), ("to_out.0.", "proj_attn."))


def legacy_key(k):
    """Modern diffusers attention key -> the legacy AttentionBlock name (old Hub checkpoints)."""
    for new, old in LEGACY:
        if f".{new}" in k:
            return k.replace(f".{new}", f".{old}")
    return k


def listing(sd, rename=None):
    lines = []
    for k, v in sd.items():
        kk = rename(k) if rename else k
        lines.append(f"{kk}:{'x'.join(str(s) for s in v.shape)}\n")
    return "".join(lines)


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def build(config):
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    torch.manual_seed(0)  # default init is overwritten for parity cases; seeded anyway
    return UNet2DModel(**kwargs)


def check_processors(model):
    for name, m in model.named_modules():
        if isinstance(m, AP.Attention) and type(m.processor) is not AP.AttnProcessor:
            raise SystemExit(f"{name}: expected AttnProcessor on torch 1.13, got {type(m.processor).__name__}")


# --------------------------------------------------------------------------------------
# Published configurations (google/ddpm-*)
# --------------------------------------------------------------------------------------

DDPM_256 = {
    "_class_name": "UNet2DModel",
    "_diffusers_version": "0.0.4",
    "act_fn": "silu",
    "attention_head_dim": None,
    "block_out_channels": [128, 128, 256, 256, 512, 512],
    "center_input_sample": False,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D",
                         "DownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 3,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 256,
    "time_embedding_type": "positional",
    "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
}
DDPM_CIFAR = dict(DDPM_256)
DDPM_CIFAR.update({
    "block_out_channels": [128, 256, 256, 256],
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "sample_size": 32,
    "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
})

SRC_CAT = ("Verbatim key/values of google/ddpm-cat-256's unet/config.json as quoted in the public repository "
           "whaler404/Hf-Learn (diffusers_learn/api/models/unets/unet2dmodel/unet2dmodel.md @ "
           "52e20dfe9aaeeab0a40a976a63a36dd695d2b51e), the Hub file itself could not be downloaded here.")
SRC_256 = ("Reconstructed, not downloaded: same architecture as google/ddpm-cat-256 (see that entry). All four "
           "256x256 DDPM checkpoints are conversions (diffusers scripts/convert_ddpm_original_checkpoint_to_"
           "diffusers.py) of Ho et al.'s 256x256 model (ch 128, ch_mult 1,1,2,2,4,4, 2 res blocks, attention at "
           "16x16); the issue's 113,673,219 parameters for ddpm-celebahq-256 match. `_diffusers_version` is "
           "assumed equal to cat's.")
SRC_CIFAR = ("Reconstructed, not downloaded: the key set and DDPM-specific values (flip_sin_to_cos false, "
             "freq_shift 1, downsample_padding 0, norm_eps 1e-06, attention_head_dim null) of the ddpm-cat-256 "
             "Hub config, with Ho et al.'s CIFAR-10 architecture (ch 128, ch_mult 1,2,2,2, 2 res blocks, "
             "attention at 16x16 = level 1); the issue's 35,746,307 parameters match. `_diffusers_version` "
             "is assumed equal to cat's.")

PUBLISHED = [
    ("google/ddpm-cifar10-32", DDPM_CIFAR, SRC_CIFAR),
    ("google/ddpm-celebahq-256", DDPM_256, SRC_256),
    ("google/ddpm-church-256", DDPM_256, SRC_256),
    ("google/ddpm-bedroom-256", DDPM_256, SRC_256),
    ("google/ddpm-cat-256", DDPM_256, SRC_CAT),
]


def write_published():
    entries = []
    cache = {}
    for name, cfg, source in PUBLISHED:
        key = json.dumps(cfg, sort_keys=True)
        if key not in cache:
            model = build(cfg)
            sd = model.state_dict()
            lst = listing(sd)
            cache[key] = {
                "num_parameters": sum(p.numel() for p in model.parameters()),
                "num_state_dict_tensors": len(sd),
                "state_dict_sha256": sha(lst),
                "state_dict_sha256_legacy_attention_names": sha(listing(sd, legacy_key)),
                "config_as_saved_now": json.loads(model.to_json_string()),
                "_listing": lst,
            }
            del model, sd
            gc.collect()
        r = cache[key]
        if name == "google/ddpm-cifar10-32":
            write_text(os.path.join(HERE, "cifar10-keys.txt"), r["_listing"])
        entries.append({
            "name": name,
            "hub_config": cfg,
            "source": source,
            **{k: v for k, v in r.items() if not k.startswith("_")},
        })
        print(f"{name}: {r['num_parameters']} params, {r['num_state_dict_tensors']} tensors")
    doc = {
        "description": "google/ddpm-* UNet2DModel configs built with the real diffusers UNet2DModel. hub_config: the "
                       "config.json as on the Hub (see each `source`); config_as_saved_now: what this diffusers "
                       "version's save_config writes for it (all keys, defaults filled). state_dict_sha256 = sha256 "
                       "of the UTF-8 text with one line per state_dict entry in state_dict order: "
                       "'<key>:<shape joined by x>\\n'; the _legacy_attention_names variant renames to_q/to_k/to_v/"
                       "to_out.0 to query/key/value/proj_attn (the names old Hub checkpoints use).",
        "diffusers_commit": DIFFUSERS_COMMIT,
        "diffusers_version": ENV.version,
        "torch_version": torch.__version__,
        "configs": entries,
    }
    write_text(os.path.join(HERE, "published-configs.json"), json.dumps(doc, indent=2) + "\n")


# --------------------------------------------------------------------------------------
# Parity cases
# --------------------------------------------------------------------------------------


def cfg(**kw):
    """Config keys for a case; everything not given takes UNet2DModel's default."""
    return kw


CASES = [
    {
        "name": "df-ddpm",
        "size": 16,
        "config": cfg(sample_size=16, in_channels=3, out_channels=3, block_out_channels=[32, 32], layers_per_block=1,
                      down_block_types=["DownBlock2D", "AttnDownBlock2D"], up_block_types=["AttnUpBlock2D", "UpBlock2D"],
                      flip_sin_to_cos=False, freq_shift=1, downsample_padding=0, norm_eps=1e-6,
                      attention_head_dim=None, norm_num_groups=32, act_fn="silu"),
        "covers": "DDPM style: DownBlock2D (conv down, downsample_padding 0 = pad right/bottom), AttnDownBlock2D "
                  "(final), AttnUpBlock2D (conv up), UpBlock2D (final); flip_sin_to_cos false, freq_shift 1; "
                  "norm_eps 1e-6; attention_head_dim null (one head); mid attention with group norm (32 groups, "
                  "attn_norm_num_groups null takes norm_num_groups); norm_num_groups 32",
    },
    {
        "name": "df-openai",
        "size": 16,
        "config": cfg(sample_size=16, in_channels=3, out_channels=6, block_out_channels=[16, 32], layers_per_block=1,
                      down_block_types=["AttnDownBlock2D", "ResnetDownsampleBlock2D"],
                      up_block_types=["ResnetUpsampleBlock2D", "AttnUpBlock2D"],
                      downsample_type="resnet", upsample_type="resnet",
                      flip_sin_to_cos=True, freq_shift=0, norm_eps=1e-5, attention_head_dim=8,
                      norm_num_groups=8, resnet_time_scale_shift="scale_shift", attn_norm_num_groups=None,
                      num_class_embeds=10),
        "labels": [1, 7],
        "covers": "OpenAI style: AttnDownBlock2D with downsample_type resnet (ResnetBlock2D down), "
                  "ResnetDownsampleBlock2D (final), ResnetUpsampleBlock2D (resnet up), AttnUpBlock2D (final); "
                  "flip_sin_to_cos true, freq_shift 0; attention_head_dim 8 (2 heads at 16 ch, 4 at 32); "
                  "resnet_time_scale_shift scale_shift with attn_norm_num_groups null, so the mid attention has NO "
                  "group norm; norm_num_groups 8; norm_eps 1e-5; class-conditional (num_class_embeds 10); "
                  "out_channels 6",
    },
    {
        "name": "df-learned",
        "size": 8,
        "config": cfg(sample_size=8, in_channels=3, out_channels=3, block_out_channels=[16, 32], layers_per_block=1,
                      down_block_types=["ResnetDownsampleBlock2D", "AttnDownBlock2D"],
                      up_block_types=["AttnUpBlock2D", "UpBlock2D"],
                      upsample_type="resnet", time_embedding_type="learned", num_train_timesteps=1000,
                      center_input_sample=True, act_fn="mish", attention_head_dim=8, norm_num_groups=16,
                      attn_norm_num_groups=8, mid_block_scale_factor=2.0, norm_eps=1e-5),
        "covers": "ResnetDownsampleBlock2D (resnet down), AttnDownBlock2D (final), AttnUpBlock2D with "
                  "upsample_type resnet (ResnetBlock2D up), UpBlock2D (final); time_embedding_type learned "
                  "(nn.Embedding(1000, 16)); center_input_sample; act_fn mish (resnets only: the time MLP and "
                  "conv_act stay SiLU); attention_head_dim 8 (4 heads at 32 ch); attn_norm_num_groups 8 (mid "
                  "attention norm 8 groups, resnets 16); mid_block_scale_factor 2 (mid resnets' output_scale_factor and the "
                  "mid attention's rescale_output_factor); 8x8",
    },
    {
        "name": "df-noattn",
        "size": 16,
        "config": cfg(sample_size=16, in_channels=4, out_channels=4, block_out_channels=[16, 32], layers_per_block=2,
                      down_block_types=["DownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "UpBlock2D"],
                      downsample_padding=1, add_attention=False, flip_sin_to_cos=False, freq_shift=0, norm_eps=1e-6,
                      norm_num_groups=8, resnet_time_scale_shift="scale_shift", num_class_embeds=5,
                      dropout=0.1),
        "labels": [1, 4],
        "covers": "DownBlock2D with downsample_padding 1 (symmetric pad conv), UpBlock2D; add_attention false "
                  "(mid block = two resnets); flip false / shift 0; norm_num_groups 8; scale_shift; "
                  "num_class_embeds 5; dropout 0.1 in the config (eval mode: no effect); in/out channels 4; "
                  "layers_per_block 2 (3 resnets per up block)",
    },
    {
        "name": "df-nomid",
        "size": 8,
        "config": cfg(sample_size=8, in_channels=3, out_channels=3, block_out_channels=[16, 32], layers_per_block=1,
                      down_block_types=["AttnDownBlock2D", "AttnDownBlock2D"],
                      up_block_types=["AttnUpBlock2D", "AttnUpBlock2D"],
                      mid_block_type=None, time_embedding_dim=96, downsample_padding=0, flip_sin_to_cos=True,
                      freq_shift=1, attention_head_dim=8, norm_num_groups=8, norm_eps=1e-6, act_fn="silu"),
        "covers": "mid_block_type null (no mid block); time_embedding_dim 96 (not 4x16); AttnDownBlock2D with conv "
                  "down (downsample_type conv, padding 0); AttnUpBlock2D with conv up; attention_head_dim 8 "
                  "(2/4 heads); flip true / shift 1; 16/32 channels, norm_num_groups 8",
    },
    {
        "name": "df-iddpm",
        "size": 16,
        "config": cfg(sample_size=16, in_channels=3, out_channels=3, block_out_channels=[32, 64], layers_per_block=1,
                      down_block_types=["DownBlock2D", "AttnDownBlock2D"], up_block_types=["AttnUpBlock2D", "UpBlock2D"],
                      flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, norm_eps=1e-5, norm_num_groups=32,
                      attention_head_dim=32, resnet_time_scale_shift="scale_shift", attn_norm_num_groups=32,
                      num_class_embeds=4, act_fn="silu"),
        "labels": [2, 0],
        "covers": "the diffusers twin of an improved-diffusion UNetModel (model_channels 32, channel_mult (1, 2), "
                  "num_res_blocks 1, attention at 2x, num_head_channels 32, use_scale_shift_norm, num_classes 4): "
                  "every block has an OpenAI counterpart (32 groups, eps 1e-5, [cos | sin] with shift 0, symmetric "
                  "conv down, mid attention with its group norm), so it converts to OpenAI's names",
    },
]
LEGACY_TWIN = "df-ddpm"  # df-ddpm-legacy-names: same weights and out, legacy attention key names

BATCH = 2
TIMESTEPS = [3, 517]
PARAM_SEED_BASE = 3000
INPUT_SEED_BASE = 4000

INIT_DESCRIPTION = (
    "Every parameter re-drawn after construction (so the zero-initialised conv2 of each resnet and other "
    "zero-init layers are not zero), visiting model.named_modules() in order with one "
    "torch.Generator().manual_seed(param_seed): Conv2d/Linear weight ~ randn*sqrt(1/fan_in) (fan_in = "
    "weight[0].numel()), Conv2d/Linear bias ~ 0.1*randn, GroupNorm weight ~ 1+0.1*randn, GroupNorm bias ~ "
    "0.1*randn, Embedding weight ~ 0.5*randn."
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
            elif isinstance(m, torch.nn.GroupNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                seen.update((id(m.weight), id(m.bias)))
            elif isinstance(m, torch.nn.Embedding):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=g))
                seen.add(id(m.weight))
    missing = [n for n, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise SystemExit(f"parameters not re-initialised: {missing}")
    if list(model.named_buffers()):
        raise SystemExit(f"unexpected buffers: {[n for n, _ in model.named_buffers()]}")


class Float64Run:
    """Lift diffusers' hard-coded float32 casts for the float64 precision-floor run only."""

    def __init__(self, f64_embedding):
        self.f64_embedding = f64_embedding

    def __enter__(self):
        emb_mod = ENV.embeddings
        self.orig_emb = emb_mod.get_timestep_embedding
        self.orig_float = torch.Tensor.__dict__.get("float")
        orig = self.orig_emb

        def emb64(timesteps, embedding_dim, flip_sin_to_cos=False, downscale_freq_shift=1, scale=1,
                  max_period=10000):
            if not self.f64_embedding:
                return orig(timesteps, embedding_dim, flip_sin_to_cos, downscale_freq_shift, scale,
                            max_period).to(torch.float64)
            half = embedding_dim // 2
            exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float64) / (half - downscale_freq_shift)
            e = timesteps[:, None].to(torch.float64) * torch.exp(exponent)[None, :]
            e = scale * e
            e = torch.cat([torch.sin(e), torch.cos(e)], dim=-1)
            if flip_sin_to_cos:
                e = torch.cat([e[:, half:], e[:, :half]], dim=-1)
            if embedding_dim % 2 == 1:
                e = torch.nn.functional.pad(e, (0, 1, 0, 0))
            return e

        emb_mod.get_timestep_embedding = emb64
        torch.Tensor.float = lambda self_, *a, **k: self_
        return self

    def __exit__(self, *exc):
        ENV.embeddings.get_timestep_embedding = self.orig_emb
        if self.orig_float is not None:
            torch.Tensor.float = self.orig_float
        else:
            del torch.Tensor.float
        assert torch.ones(1, dtype=torch.float64).float().dtype == torch.float32
        return False


def max_abs(a, b):
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max().item())


def write_case(idx, case):
    name = case["name"]
    param_seed, input_seed = PARAM_SEED_BASE + idx, INPUT_SEED_BASE + idx
    model = build(case["config"])
    check_processors(model)
    reinit_(model, param_seed)
    model.eval()
    config_json = model.to_json_string()
    config = json.loads(config_json)

    g = torch.Generator().manual_seed(input_seed)
    s = case["size"]
    x = torch.randn((BATCH, config["in_channels"], s, s), generator=g, dtype=torch.float32)
    t = torch.tensor(TIMESTEPS, dtype=torch.int64)
    y = torch.tensor(case["labels"], dtype=torch.int64) if "labels" in case else None
    with torch.no_grad():
        out = model(x, t, class_labels=y).sample
        again = model(x, t, class_labels=y).sample
    assert out.dtype == torch.float32 and torch.equal(out, again)

    sd = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    zero_params = [k for k, v in sd.items() if not v.abs().sum() > 0]
    assert not zero_params, zero_params

    model64 = build(case["config"]).double()
    model64.load_state_dict({k: v.double() for k, v in sd.items()}, strict=True)
    model64.eval()
    with torch.no_grad():
        with Float64Run(True):
            out64 = model64(x.double(), t, class_labels=y).sample
        with Float64Run(False):
            out64b = model64(x.double(), t, class_labels=y).sample
    assert out64.dtype == torch.float64
    floor = {
        "max_abs_diff_float32_vs_float64": max_abs(out, out64),
        "max_abs_diff_float32_vs_float64_f32_timestep_embedding": max_abs(out, out64b),
        "max_abs_diff_float64_vs_float64_f32_timestep_embedding": max_abs(out64, out64b),
        "note": "float64 re-run of the same weights and inputs; see make_reference.py's docstring for the two "
                "float32 casts lifted for it. The _f32_timestep_embedding run keeps diffusers' float32 sinusoidal "
                "embedding (upcast).",
    }

    variants = [(name, lambda k: k, None)]
    if name == LEGACY_TWIN:
        variants.append((name + "-legacy-names", legacy_key, name))
    for vname, rename, twin in variants:
        tensors = {rename(k): v.detach().numpy().astype("<f4") for k, v in sd.items()}
        assert len(tensors) == len(sd) and not any(k.startswith("io.") for k in tensors)
        tensors["io.x"] = x.numpy().astype("<f4")
        tensors["io.timesteps"] = t.numpy().astype("<i8")
        if y is not None:
            tensors["io.y"] = y.numpy().astype("<i8")
        tensors["io.out"] = out.numpy().astype("<f4")
        blob = st_serialize(tensors, {"format": "pt", "case": vname,
                                      "producer": "test/reference/diffusers/make_reference.py"})
        write_bytes(os.path.join(HERE, vname + ".safetensors"), blob)
        meta = {
            "name": vname,
            "covers": case["covers"] if twin is None else
            f"the {twin} case saved with the LEGACY attention names (query, key, value, proj_attn instead of "
            f"to_q, to_k, to_v, to_out.0) as old Hub checkpoints have them; same weights, same io.out as {twin}",
            **({"legacy_twin_of": twin} if twin else {}),
            "model_class": "UNet2DModel",
            "config": config,
            "config_json": config_json,
            "image_size": s,
            "batch": BATCH,
            "param_seed": param_seed,
            "input_seed": input_seed,
            "init": INIT_DESCRIPTION,
            "inputs": "io.x = torch.randn((batch, in_channels, image_size, image_size), generator=torch.Generator()"
                      ".manual_seed(input_seed)); io.timesteps and io.y as listed here",
            "timesteps": TIMESTEPS,
            "class_labels": case.get("labels"),
            "io_keys": {k: {"dtype": "F32" if tensors[k].dtype == np.float32 else "I64",
                            "shape": list(tensors[k].shape)} for k in sorted(tensors) if k.startswith("io.")},
            "forward": "model.eval(); torch.no_grad(); float32; torch.set_num_threads(2); "
                       "out = model(io.x, io.timesteps" + (", class_labels=io.y" if y is not None else "") + ").sample",
            "attention_processor": "AttnProcessor",
            "num_parameters": n_params,
            "num_state_dict_tensors": len(sd),
            "state_dict_sha256": sha(listing(sd, rename)),
            "out_max_abs": float(out.abs().max().item()),
            "out_mean_abs": float(out.abs().mean().item()),
            "precision_floor": floor,
            "safetensors_file": vname + ".safetensors",
            "safetensors_bytes": len(blob),
            "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
            "diffusers_commit": DIFFUSERS_COMMIT,
            "diffusers_version": ENV.version,
            "torch_version": torch.__version__,
        }
        write_text(os.path.join(HERE, vname + ".json"), json.dumps(meta, indent=2) + "\n")
        print(f"{vname}: {n_params} params, {len(sd)} tensors, {len(blob)} bytes, floor "
              f"{floor['max_abs_diff_float32_vs_float64']:.3e} (f32-emb {floor['max_abs_diff_float32_vs_float64_f32_timestep_embedding']:.3e}), "
              f"|out|max {meta['out_max_abs']:.3f}")
    del model, model64
    gc.collect()


def main():
    print(f"torch {torch.__version__}, diffusers {ENV.version} from {ENV.src}")
    for i, case in enumerate(CASES):
        write_case(i, case)
    write_published()
    print("stubbed third-party names read:", ", ".join(STUB_LOG))
    print("torch polyfills:", ", ".join(TORCH_POLYFILLS))


if __name__ == "__main__":
    main()
