#!/usr/bin/env python3
"""Generate UNet Studio's reference data from the REAL openai/guided-diffusion UNetModel.

Outputs (all under the directory holding this script, written deterministically):

  published-configs.json  One entry per published checkpoint in the READMEs of
                          openai/guided-diffusion and openai/improved-diffusion:
                          exact UNetModel constructor kwargs, parameter count,
                          state_dict tensor count and a sha256 of the state_dict
                          "key:shape" listing.
  <fixture>.safetensors   Small parity fixtures: the state_dict under its own
                          PyTorch keys plus io.x / io.timesteps / [io.y] / io.out.
  <fixture>.json          Companion metadata (kwargs, seeds, counts, precision floor).

Usage:

  GUIDED_DIFFUSION_SRC=/path/containing/guided_diffusion /usr/bin/python3 test/reference/make_reference.py

GUIDED_DIFFUSION_SRC defaults to /tmp/ref and must be the directory that CONTAINS
the `guided_diffusion` package (a checkout of https://github.com/openai/guided-diffusion
works as is). Only guided_diffusion/unet.py, nn.py and fp16_util.py are executed.
None of the reference source is part of this repository.

Optional: IMPROVED_DIFFUSION_SRC=/path/containing/improved_diffusion additionally
builds improved-diffusion's own UNetModel for every improved-diffusion entry and
asserts that its state_dict (keys, shapes, order) and parameter count are identical
to the guided-diffusion build recorded in the JSON. This only prints; it never
changes any output file.

Changes made to the reference tree used for the committed data (none to numerics):
  * guided_diffusion/__init__.py: empty package marker (upstream's holds a docstring only).
  * guided_diffusion/logger.py: replaced by an empty stub. fp16_util.py does
    `from . import logger` but only uses it inside MixedPrecisionTrainer (training);
    the upstream file imports only the standard library, so it works too.
  * unet.py, nn.py, fp16_util.py: verbatim (see README.md for the commits read).

Precision floor: the float64 re-run is produced WITHOUT editing the reference files,
by temporarily (only during that run) patching at runtime:
  * model.dtype = torch.float64 (instance attribute read by UNetModel.forward
    `h = x.type(self.dtype)`; normally float32 or float16),
  * torch.Tensor.float -> identity, so the explicit float32 up-casts the reference
    makes for fp16 training (GroupNorm32, softmax in QKVAttention*) stay float64,
  * guided_diffusion.unet.timestep_embedding -> the same sinusoidal formula evaluated
    in float64 (the reference hard-codes float32 there).
A second float64 run keeps the reference's float32 timestep embedding (cast up to
float64) to show how much of the floor comes from the float32 embedding alone.

Requires torch and numpy only (Debian: apt-get install python3-torch python3-numpy).
"""

import gc
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("GUIDED_DIFFUSION_SRC", "/tmp/ref")
sys.path.insert(0, SRC)

import guided_diffusion.unet as gd_unet  # noqa: E402
from guided_diffusion.unet import SuperResModel, UNetModel  # noqa: E402
from guided_diffusion.nn import GroupNorm32  # noqa: E402

torch.set_num_threads(2)

# Upstream commits of the files read (see README.md).
REFERENCE_COMMITS = {
    "guided_diffusion/unet.py": "18ff408c2d27cd385fa2735c655daa0e3c1e48ef",
    "guided_diffusion/nn.py": "aca3097a89fab9c9962b22224d5f48950eb57e29",
    "guided_diffusion/fp16_util.py": "22e0df8183507e13a7813f8d38d51b072ca1e67c",
    "guided_diffusion/script_util.py": "18ff408c2d27cd385fa2735c655daa0e3c1e48ef",
    "guided-diffusion README.md": "27c20a8fab9cb472df5d6bdd6c8d11c8f430b924",
    "improved-diffusion README.md": "783b6740edb79fdb7d063250db2c51cc9545dcd1",
    "improved_diffusion/script_util.py": "6051920c0865d53146db7841bfba43c3e67edef6",
}

# --------------------------------------------------------------------------------------
# Published configurations
# --------------------------------------------------------------------------------------


def unet_kwargs(
    *,
    image_size,
    model_channels,
    num_res_blocks,
    attention_resolutions,  # the README's comma-separated *resolutions*, e.g. "32,16,8"
    channel_mult,
    in_channels=3,
    learn_sigma=True,
    dropout=0.0,
    class_cond=False,
    num_heads=4,
    num_head_channels=-1,
    num_heads_upsample=-1,
    use_scale_shift_norm=True,
    resblock_updown=False,
    use_new_attention_order=False,
):
    """Full UNetModel kwargs exactly as script_util.create_model / sr_create_model build them
    (attention_resolutions converted to downsample factors image_size // res)."""
    return {
        "image_size": image_size,
        "in_channels": in_channels,
        "model_channels": model_channels,
        "out_channels": 6 if learn_sigma else 3,
        "num_res_blocks": num_res_blocks,
        "attention_resolutions": [image_size // int(r) for r in attention_resolutions.split(",")],
        "dropout": dropout,
        "channel_mult": list(channel_mult),
        "conv_resample": True,
        "dims": 2,
        "num_classes": 1000 if class_cond else None,
        "use_checkpoint": False,
        "use_fp16": False,
        "num_heads": num_heads,
        "num_head_channels": num_head_channels,
        "num_heads_upsample": num_heads_upsample,
        "use_scale_shift_norm": use_scale_shift_norm,
        "resblock_updown": resblock_updown,
        "use_new_attention_order": use_new_attention_order,
    }


# channel_mult defaults of guided-diffusion script_util.create_model (image_size -> mult)
GD_MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}
# guided-diffusion sr_create_model (large_size -> mult)
GD_SR_MULT = {512: (1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4)}
# improved-diffusion script_util.create_model / sr_create_model
ID_MULT = {256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4), 32: (1, 2, 2, 2)}

GD_BLOB = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
ID_BLOB = "https://openaipublic.blob.core.windows.net/diffusion/march-2021/"

ID_NOTE = (
    "Built with guided-diffusion's UNetModel (a superset of improved-diffusion's) using "
    "improved-diffusion's create_model defaults (num_heads 4, num_heads_upsample -1, "
    "attention_resolutions '16,8', use_scale_shift_norm True, dropout 0) plus "
    "num_head_channels=-1, use_new_attention_order=False (legacy head split), "
    "resblock_updown=False. improved-diffusion's first conv and final conv use model_channels, "
    "which equals int(channel_mult[0]*model_channels) here because channel_mult[0] == 1."
)
SR_NOTE = (
    "SuperResModel: the class is constructed with in_channels=3 and passes in_channels*2=6 "
    "to UNetModel (noisy image concatenated with the bilinearly upsampled low-res image); "
    "kwargs records the UNetModel-level value 6. forward takes low_res."
)


def published_configs():
    e = []

    def add(name, source, checkpoint, flags, kwargs, model_class="UNetModel", notes=None):
        entry = {
            "name": name,
            "source": source,
            "checkpoint": checkpoint,
            "readme_model_flags": flags,
            "model_class": model_class,
            "kwargs": kwargs,
            "image_size": kwargs["image_size"],
        }
        if source == "guided-diffusion":
            # kwargs always use use_fp16=False (fp16 only casts torso convs; counts are unchanged)
            entry["readme_use_fp16"] = "--use_fp16 True" in flags
        if notes:
            entry["notes"] = notes
        e.append(entry)

    # ---------------- improved-diffusion (README "Models and Hyperparameters") ----------------
    in64 = dict(image_size=64, model_channels=128, num_res_blocks=3, attention_resolutions="16,8",
                channel_mult=ID_MULT[64])
    c10 = dict(image_size=32, model_channels=128, num_res_blocks=3, attention_resolutions="16,8",
               channel_mult=ID_MULT[32], dropout=0.3)
    add("improved-diffusion/imagenet64_uncond_100M_1500K", "improved-diffusion",
        ID_BLOB + "imagenet64_uncond_100M_1500K.pt",
        "--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True",
        unet_kwargs(**in64), notes=ID_NOTE)
    add("improved-diffusion/cifar10_uncond_50M_500K", "improved-diffusion",
        ID_BLOB + "cifar10_uncond_50M_500K.pt",
        "--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3",
        unet_kwargs(**c10), notes=ID_NOTE)
    add("improved-diffusion/imagenet64_cond_270M_250K", "improved-diffusion",
        ID_BLOB + "imagenet64_cond_270M_250K.pt",
        "--image_size 64 --num_channels 192 --num_res_blocks 3 --learn_sigma True --class_cond True",
        unet_kwargs(image_size=64, model_channels=192, num_res_blocks=3, attention_resolutions="16,8",
                    channel_mult=ID_MULT[64], class_cond=True), notes=ID_NOTE)
    add("improved-diffusion/upsample_cond_500K", "improved-diffusion",
        ID_BLOB + "upsample_cond_500K.pt",
        "--num_channels 192 --num_res_blocks 2 --learn_sigma True --class_cond True "
        "(super-res defaults: large_size 256, small_size 64)",
        unet_kwargs(image_size=256, in_channels=6, model_channels=192, num_res_blocks=2,
                    attention_resolutions="16,8", channel_mult=ID_MULT[256], class_cond=True),
        model_class="SuperResModel", notes=ID_NOTE + " " + SR_NOTE)
    lsun_id = dict(image_size=256, model_channels=128, num_res_blocks=2, attention_resolutions="16",
                   channel_mult=ID_MULT[256], num_heads=1, use_scale_shift_norm=False)
    lsun_id_flags = ("--image_size 256 --num_channels 128 --num_res_blocks 2 --num_heads 1 "
                     "--learn_sigma True --use_scale_shift_norm False --attention_resolutions 16")
    add("improved-diffusion/lsun_uncond_100M_1200K_bs128", "improved-diffusion",
        ID_BLOB + "lsun_uncond_100M_1200K_bs128.pt", lsun_id_flags, unet_kwargs(**lsun_id), notes=ID_NOTE)
    add("improved-diffusion/lsun_uncond_100M_2400K_bs64", "improved-diffusion",
        ID_BLOB + "lsun_uncond_100M_2400K_bs64.pt", lsun_id_flags, unet_kwargs(**lsun_id), notes=ID_NOTE)
    add("improved-diffusion/imagenet64_uncond_vlb_100M_1500K", "improved-diffusion",
        ID_BLOB + "imagenet64_uncond_vlb_100M_1500K.pt",
        "--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True",
        unet_kwargs(**in64), notes=ID_NOTE)
    add("improved-diffusion/cifar10_uncond_vlb_50M_500K", "improved-diffusion",
        ID_BLOB + "cifar10_uncond_vlb_50M_500K.pt",
        "--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3",
        unet_kwargs(**c10), notes=ID_NOTE)

    # ---------------- guided-diffusion (README "Sampling from pre-trained models") ----------------
    add("guided-diffusion/64x64_diffusion", "guided-diffusion", GD_BLOB + "64x64_diffusion.pt",
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 "
        "--image_size 64 --learn_sigma True --noise_schedule cosine --num_channels 192 "
        "--num_head_channels 64 --num_res_blocks 3 --resblock_updown True --use_new_attention_order True "
        "--use_fp16 True --use_scale_shift_norm True",
        unet_kwargs(image_size=64, model_channels=192, num_res_blocks=3, attention_resolutions="32,16,8",
                    channel_mult=GD_MULT[64], dropout=0.1, class_cond=True, num_head_channels=64,
                    resblock_updown=True, use_new_attention_order=True))
    add("guided-diffusion/128x128_diffusion", "guided-diffusion", GD_BLOB + "128x128_diffusion.pt",
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 128 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_heads 4 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True",
        unet_kwargs(image_size=128, model_channels=256, num_res_blocks=2, attention_resolutions="32,16,8",
                    channel_mult=GD_MULT[128], class_cond=True, num_heads=4, resblock_updown=True))
    f256 = ("--attention_resolutions 32,16,8 --class_cond {cc} --diffusion_steps 1000 --image_size 256 "
            "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 "
            "--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True")
    k256 = dict(image_size=256, model_channels=256, num_res_blocks=2, attention_resolutions="32,16,8",
                channel_mult=GD_MULT[256], num_head_channels=64, resblock_updown=True)
    add("guided-diffusion/256x256_diffusion", "guided-diffusion", GD_BLOB + "256x256_diffusion.pt",
        f256.format(cc="True"), unet_kwargs(class_cond=True, **k256))
    add("guided-diffusion/256x256_diffusion_uncond", "guided-diffusion",
        GD_BLOB + "256x256_diffusion_uncond.pt", f256.format(cc="False"), unet_kwargs(class_cond=False, **k256))
    add("guided-diffusion/512x512_diffusion", "guided-diffusion", GD_BLOB + "512x512_diffusion.pt",
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 512 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 "
        "--num_res_blocks 2 --resblock_updown True --use_fp16 False --use_scale_shift_norm True",
        unet_kwargs(image_size=512, model_channels=256, num_res_blocks=2, attention_resolutions="32,16,8",
                    channel_mult=GD_MULT[512], class_cond=True, num_head_channels=64, resblock_updown=True),
        notes="channel_mult[0] = 0.5: the first conv outputs int(0.5*256) = 128 channels and the final "
              "conv reads 128 channels (UNetModel's input_ch).")
    add("guided-diffusion/64_256_upsampler", "guided-diffusion", GD_BLOB + "64_256_upsampler.pt",
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --large_size 256 "
        "--small_size 64 --learn_sigma True --noise_schedule linear --num_channels 192 --num_heads 4 "
        "--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True",
        unet_kwargs(image_size=256, in_channels=6, model_channels=192, num_res_blocks=2,
                    attention_resolutions="32,16,8", channel_mult=GD_SR_MULT[256], class_cond=True,
                    num_heads=4, resblock_updown=True),
        model_class="SuperResModel", notes=SR_NOTE)
    add("guided-diffusion/128_512_upsampler", "guided-diffusion", GD_BLOB + "128_512_upsampler.pt",
        "--attention_resolutions 32,16 --class_cond True --diffusion_steps 1000 --large_size 512 "
        "--small_size 128 --learn_sigma True --noise_schedule linear --num_channels 192 "
        "--num_head_channels 64 --num_res_blocks 2 --resblock_updown True --use_fp16 True "
        "--use_scale_shift_norm True",
        unet_kwargs(image_size=512, in_channels=6, model_channels=192, num_res_blocks=2,
                    attention_resolutions="32,16", channel_mult=GD_SR_MULT[512], class_cond=True,
                    num_head_channels=64, resblock_updown=True),
        model_class="SuperResModel",
        notes=SR_NOTE + " sr_create_model uses channel_mult (1,1,2,2,4,4) for large_size 512.")
    lsun_flags = ("--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 --dropout {d} "
                  "--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 256 "
                  "--num_head_channels 64 --num_res_blocks 2 --resblock_updown True --use_fp16 True "
                  "--use_scale_shift_norm True")
    for ck in ("lsun_bedroom", "lsun_cat", "lsun_horse"):
        add("guided-diffusion/" + ck, "guided-diffusion", GD_BLOB + ck + ".pt", lsun_flags.format(d="0.1"),
            unet_kwargs(dropout=0.1, class_cond=False, **k256),
            notes=None if ck == "lsun_bedroom" else
            "README gives flags for lsun_bedroom.pt and says the other LSUN checkpoints use the same flags.")
    add("guided-diffusion/lsun_horse_nodropout", "guided-diffusion", GD_BLOB + "lsun_horse_nodropout.pt",
        lsun_flags.format(d="0.0"), unet_kwargs(dropout=0.0, class_cond=False, **k256))
    return e


def construct(model_class, kwargs):
    kw = dict(kwargs)
    kw["attention_resolutions"] = tuple(kw["attention_resolutions"])
    kw["channel_mult"] = tuple(kw["channel_mult"])
    if model_class == "SuperResModel":
        kw["in_channels"] = kw["in_channels"] // 2
        return SuperResModel(**kw)
    assert model_class == "UNetModel"
    return UNetModel(**kw)


def state_dict_listing(sd):
    return "".join(f"{k}:{'x'.join(str(d) for d in v.shape)}\n" for k, v in sd.items())


def model_summary(model):
    sd = model.state_dict()
    return {
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_state_dict_tensors": len(sd),
        "state_dict_sha256": hashlib.sha256(state_dict_listing(sd).encode("utf-8")).hexdigest(),
    }


def improved_crosscheck(entry, summary, listing):
    src = os.environ.get("IMPROVED_DIFFUSION_SRC")
    if not src or entry["source"] != "improved-diffusion":
        return
    if src not in sys.path:
        sys.path.insert(0, src)
    import improved_diffusion.unet as idu

    k = entry["kwargs"]
    kw = dict(
        in_channels=k["in_channels"], model_channels=k["model_channels"], out_channels=k["out_channels"],
        num_res_blocks=k["num_res_blocks"], attention_resolutions=tuple(k["attention_resolutions"]),
        dropout=k["dropout"], channel_mult=tuple(k["channel_mult"]), num_classes=k["num_classes"],
        num_heads=k["num_heads"], num_heads_upsample=k["num_heads_upsample"],
        use_scale_shift_norm=k["use_scale_shift_norm"],
    )
    if entry["model_class"] == "SuperResModel":
        kw["in_channels"] //= 2
        m = idu.SuperResModel(**kw)
    else:
        m = idu.UNetModel(**kw)
    s = model_summary(m)
    same_listing = state_dict_listing(m.state_dict()) == listing
    del m
    gc.collect()
    ok = same_listing and s == summary
    print(f"  improved-diffusion cross-check: {'IDENTICAL' if ok else 'MISMATCH'} "
          f"({s['num_parameters']} params, {s['num_state_dict_tensors']} tensors)")
    if not ok:
        raise SystemExit(f"improved-diffusion cross-check failed for {entry['name']}")


def write_published():
    out = []
    for entry in published_configs():
        model = construct(entry["model_class"], entry["kwargs"])
        summary = model_summary(model)
        listing = state_dict_listing(model.state_dict())
        del model
        gc.collect()
        entry.update(summary)
        print(f"{entry['name']}: {summary['num_parameters']} params, "
              f"{summary['num_state_dict_tensors']} tensors")
        improved_crosscheck(entry, summary, listing)
        out.append(entry)
    doc = {
        "description": "Published UNetModel configurations of openai/guided-diffusion and "
                       "openai/improved-diffusion, built with guided-diffusion's UNetModel (use_fp16=False; "
                       "fp16 does not change parameter counts). state_dict_sha256 = sha256 of the UTF-8 text "
                       "made of one line per state_dict entry in state_dict order: '<key>:<shape joined by x>\\n'.",
        "classifiers_excluded": "The guided-diffusion classifier checkpoints (*_classifier.pt) are "
                                "EncoderUNetModel, not UNetModel, and are not listed.",
        "reference_commits": REFERENCE_COMMITS,
        "torch_version": torch.__version__,
        "configs": out,
    }
    write_text(os.path.join(HERE, "published-configs.json"), json.dumps(doc, indent=2) + "\n")


# --------------------------------------------------------------------------------------
# Parity fixtures
# --------------------------------------------------------------------------------------

FIXTURES = [
    {
        "name": "guided-headch",
        "image_size": 16,
        "kwargs": dict(image_size=16, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
                       attention_resolutions=[2], dropout=0.0, channel_mult=[1, 2], conv_resample=True, dims=2,
                       num_classes=None, use_checkpoint=False, use_fp16=False, num_heads=1,
                       num_head_channels=16, num_heads_upsample=-1, use_scale_shift_norm=True,
                       resblock_updown=False, use_new_attention_order=False),
        "exercises": "num_head_channels=16 (4 heads at 64 channels), legacy head split, scale-shift norm",
    },
    {
        "name": "guided-neworder",
        "image_size": 16,
        "kwargs": dict(image_size=16, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
                       attention_resolutions=[2], dropout=0.0, channel_mult=[1, 2], conv_resample=True, dims=2,
                       num_classes=None, use_checkpoint=False, use_fp16=False, num_heads=2,
                       num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=False,
                       resblock_updown=False, use_new_attention_order=True),
        "exercises": "use_new_attention_order (QKVAttention: split qkv before heads), 2 heads, additive emb",
    },
    {
        "name": "guided-updown",
        "image_size": 16,
        "kwargs": dict(image_size=16, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
                       attention_resolutions=[4], dropout=0.0, channel_mult=[1, 1, 1], conv_resample=True,
                       dims=2, num_classes=None, use_checkpoint=False, use_fp16=False, num_heads=2,
                       num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=True,
                       resblock_updown=True, use_new_attention_order=False),
        "exercises": "resblock_updown (ResBlock down/up with avg-pool / nearest resampling), 3 levels, "
                     "attention (2 heads) at 4x downsampling",
        "size_note": "channel_mult (1,1,1) rather than (1,2,2) keeps the file near 2 MB; (1,2,2) would be "
                     "1.37M parameters (5.5 MB). Up/down ResBlocks never change channel count either way.",
    },
    {
        "name": "guided-classcond",
        "image_size": 8,
        "kwargs": dict(image_size=8, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=2,
                       attention_resolutions=[2], dropout=0.0, channel_mult=[1, 1], conv_resample=True, dims=2,
                       num_classes=10, use_checkpoint=False, use_fp16=False, num_heads=2,
                       num_head_channels=-1, num_heads_upsample=1, use_scale_shift_norm=True,
                       resblock_updown=False, use_new_attention_order=False),
        "exercises": "class conditioning (label_emb), num_heads 2 on the way down/middle but "
                     "num_heads_upsample 1 in output_blocks, num_res_blocks 2",
        "size_note": "channel_mult (1,1) rather than (1,2) keeps the file near 2 MB; (1,2) would be "
                     "1.08M parameters (4.3 MB).",
    },
    {
        "name": "guided-halfmult",
        "image_size": 8,
        "kwargs": dict(image_size=8, in_channels=3, model_channels=64, out_channels=3, num_res_blocks=1,
                       attention_resolutions=[1], dropout=0.0, channel_mult=[0.5, 1], conv_resample=True,
                       dims=2, num_classes=None, use_checkpoint=False, use_fp16=False, num_heads=1,
                       num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=False,
                       resblock_updown=False, use_new_attention_order=False),
        "exercises": "fractional channel_mult[0]=0.5 (first conv -> 32 channels, final conv reads 32), "
                     "time embedding width 4*64=256, attention on the 32-channel (mult 0.5) level and in the "
                     "64-channel middle block",
        "size_note": "attention_resolutions (1,) rather than (2,) keeps the file under 3 MiB "
                     "((2,) would be 817443 parameters, 3.27 MB).",
    },
]

BATCH = 2
TIMESTEPS = [3, 517]
LABELS = [1, 7]
PARAM_SEED_BASE = 1000
INPUT_SEED_BASE = 2000

INIT_DESCRIPTION = (
    "Every parameter re-initialised (so zero_module layers are not zero), visiting model.named_modules() "
    "in order with one torch.Generator(manual_seed=param_seed) and torch.randn: Conv/Linear weight ~ "
    "randn * sqrt(1/fan_in) (fan_in = weight[0].numel(), i.e. variance 1/fan_in), Conv/Linear bias ~ "
    "0.1*randn, GroupNorm weight ~ 1 + 0.1*randn, GroupNorm bias ~ 0.1*randn, Embedding weight ~ 0.5*randn."
)


def reinit_(model, seed):
    g = torch.Generator().manual_seed(seed)
    seen = set()
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)):
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
    buffers = list(model.named_buffers())
    if buffers:
        raise SystemExit(f"unexpected buffers: {[n for n, _ in buffers]}")


class Float64Forward:
    """Context manager for the float64 precision-floor run (see module docstring)."""

    def __init__(self, model, f64_timestep_embedding=True):
        self.model = model
        self.f64_emb = f64_timestep_embedding

    def __enter__(self):
        self.had_float = "float" in torch.Tensor.__dict__
        self.orig_float = torch.Tensor.__dict__.get("float")
        self.orig_emb = gd_unet.timestep_embedding
        self.orig_dtype = self.model.dtype
        torch.Tensor.float = lambda self_, *a, **k: self_
        orig_emb = self.orig_emb

        def emb64(timesteps, dim, max_period=10000):
            if not self.f64_emb:
                return orig_emb(timesteps, dim, max_period).to(torch.float64)
            half = dim // 2
            freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float64) / half)
            args = timesteps[:, None].to(torch.float64) * freqs[None]
            emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
            if dim % 2:
                emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
            return emb

        gd_unet.timestep_embedding = emb64
        self.model.dtype = torch.float64
        return self

    def __exit__(self, *exc):
        if self.had_float:
            torch.Tensor.float = self.orig_float
        else:
            del torch.Tensor.float
        gd_unet.timestep_embedding = self.orig_emb
        self.model.dtype = self.orig_dtype
        assert torch.ones(1, dtype=torch.float64).float().dtype == torch.float32
        return False


def st_bytes(tensors, metadata):
    """Serialise {name: np.ndarray} to .safetensors (header sorted by key, data in header order)."""
    dt = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    chunks = []
    off = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        raw = a.tobytes(order="C")
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(chunks)


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def max_abs(a, b):
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max().item())


def write_fixture(idx, fx):
    kwargs = fx["kwargs"]
    param_seed = PARAM_SEED_BASE + idx
    input_seed = INPUT_SEED_BASE + idx
    model = construct("UNetModel", kwargs)
    reinit_(model, param_seed)
    model.eval()
    summary = model_summary(model)

    g = torch.Generator().manual_seed(input_seed)
    size = fx["image_size"]
    x = torch.randn((BATCH, kwargs["in_channels"], size, size), generator=g, dtype=torch.float32)
    t = torch.tensor(TIMESTEPS, dtype=torch.int64)
    y = torch.tensor(LABELS, dtype=torch.int64) if kwargs["num_classes"] is not None else None

    with torch.no_grad():
        out = model(x, t, y)
        out_again = model(x, t, y)
    assert out.dtype == torch.float32 and torch.equal(out, out_again)

    tensors = {k: v.detach().cpu().numpy().astype("<f4") for k, v in model.state_dict().items()}
    assert not any(k.startswith("io.") for k in tensors)
    tensors["io.x"] = x.numpy().astype("<f4")
    tensors["io.timesteps"] = t.numpy().astype("<i8")
    if y is not None:
        tensors["io.y"] = y.numpy().astype("<i8")
    tensors["io.out"] = out.numpy().astype("<f4")

    # float64 precision floor
    model64 = model.double()
    with torch.no_grad():
        with Float64Forward(model64, f64_timestep_embedding=True):
            out64 = model64(x.double(), t, y)
        with Float64Forward(model64, f64_timestep_embedding=False):
            out64_f32emb = model64(x.double(), t, y)
    assert out64.dtype == torch.float64 and out64_f32emb.dtype == torch.float64

    st_name = fx["name"] + ".safetensors"
    blob = st_bytes(tensors, {"format": "pt", "fixture": fx["name"], "producer": "test/reference/make_reference.py"})
    write_bytes(os.path.join(HERE, st_name), blob)

    meta = {
        "name": fx["name"],
        "exercises": fx["exercises"],
        **({"size_note": fx["size_note"]} if "size_note" in fx else {}),
        "model_class": "UNetModel",
        "kwargs": kwargs,
        "image_size": size,
        "batch": BATCH,
        "param_seed": param_seed,
        "input_seed": input_seed,
        "init": INIT_DESCRIPTION,
        "inputs": "io.x = torch.randn((batch, in_channels, image_size, image_size), generator=Generator()."
                  "manual_seed(input_seed)); io.timesteps and io.y as listed here",
        "timesteps": TIMESTEPS,
        "y": LABELS if y is not None else None,
        "io_keys": {k: {"dtype": "F32" if tensors[k].dtype == np.float32 else "I64",
                        "shape": list(tensors[k].shape)} for k in sorted(tensors) if k.startswith("io.")},
        "forward": "model.eval(); torch.no_grad(); float32; torch.set_num_threads(2); out = model(io.x, io.timesteps"
                   + (", io.y)" if y is not None else ")"),
        **summary,
        "num_safetensors_tensors": len(tensors),
        "out_max_abs": float(out.abs().max().item()),
        "out_mean_abs": float(out.abs().mean().item()),
        "precision_floor": {
            "max_abs_diff_float32_vs_float64": max_abs(out, out64),
            "max_abs_diff_float32_vs_float64_f32_timestep_embedding": max_abs(out, out64_f32emb),
            "max_abs_diff_float64_vs_float64_f32_timestep_embedding": max_abs(out64, out64_f32emb),
            "note": "float64 re-run of the same model (.double(), double inputs); see make_reference.py "
                    "docstring for how the reference's hard-coded float32 casts were lifted. The "
                    "'_f32_timestep_embedding' run keeps the reference's float32 sinusoidal embedding "
                    "(upcast), isolating the error of computing t*freq in float32 (t=517).",
        },
        "safetensors_file": st_name,
        "safetensors_bytes": len(blob),
        "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
        "torch_version": torch.__version__,
        "reference_commits": REFERENCE_COMMITS,
    }
    write_text(os.path.join(HERE, fx["name"] + ".json"), json.dumps(meta, indent=2) + "\n")
    print(f"{fx['name']}: {summary['num_parameters']} params, {len(blob)} bytes, "
          f"floor {meta['precision_floor']['max_abs_diff_float32_vs_float64']:.3e} "
          f"(f32-emb run {meta['precision_floor']['max_abs_diff_float32_vs_float64_f32_timestep_embedding']:.3e}), "
          f"|out|max {meta['out_max_abs']:.3f}")
    del model, model64
    gc.collect()


def main():
    print(f"torch {torch.__version__}, reference source {SRC}")
    for i, fx in enumerate(FIXTURES):
        write_fixture(i, fx)
    write_published()


if __name__ == "__main__":
    main()
