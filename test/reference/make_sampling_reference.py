#!/usr/bin/env python3
"""Reference trajectories for runtime/diffusion.ts from the REAL improved-diffusion samplers.

Runs `SpacedDiffusion` (improved_diffusion/respace.py) with `ddim_sample_loop` and
`p_sample_loop` of improved_diffusion/gaussian_diffusion.py on small fake models whose output is
a closed-form function of (x, t, y), and writes `sampling/reference.json` next to this script:
for each case the settings, x_T, the noise each step drew and the final sample (NCHW, float32).

* Fake models (elementwise, so no weights are needed): eps = 0.1*x + 5e-4*t (+ 0.05*y for the
  class-conditional one, y broadcast per sample); the learned-sigma variant appends C channels of
  v = 0.3 (LEARNED_RANGE reads them; DDIM ignores them).
* Noise: `th.randn_like` is replaced, for the sampling run only, by a recorded deterministic
  pattern (sin of the call index and the element index), so the TypeScript test can feed the
  same noise; x_T is passed as `noise=`.
* Classifier-free guidance: the `model_fn` of OpenAI's GLIDE text2im notebook (the conditional and
  unconditional halves in ONE forward, concatenated on the batch axis;
  eps = uncond + s * (cond - uncond)), sampled with `ddim_sample_loop`.

Usage (Debian's torch 1.13; improved-diffusion's source on disk, none of it copied here):

  IMPROVED_DIFFUSION_SRC=/dir/containing/improved_diffusion /usr/bin/python3 test/reference/make_sampling_reference.py
"""

import json
import math
import os
import sys

import torch as th

SRC = os.environ.get("IMPROVED_DIFFUSION_SRC", "/tmp/idsrc")
sys.path.insert(0, SRC)

from improved_diffusion import gaussian_diffusion as gd  # noqa: E402
from improved_diffusion.respace import SpacedDiffusion, space_timesteps  # noqa: E402

th.set_num_threads(1)


def make(schedule, train_steps, steps, learn_sigma, rescale):
    return SpacedDiffusion(
        use_timesteps=space_timesteps(train_steps, [steps]),
        betas=gd.get_named_beta_schedule(schedule, train_steps),
        model_mean_type=gd.ModelMeanType.EPSILON,
        model_var_type=gd.ModelVarType.LEARNED_RANGE if learn_sigma else gd.ModelVarType.FIXED_LARGE,
        loss_type=gd.LossType.MSE,
        rescale_timesteps=rescale,
    )


def fake_model(learn_sigma, seen):
    def model(x, t, y=None):
        seen.append([float(v) for v in t.tolist()])
        tt = t.float().view(-1, 1, 1, 1)
        eps = 0.1 * x + 5e-4 * tt
        if y is not None:
            eps = eps + 0.05 * y.float().view(-1, 1, 1, 1)
        if learn_sigma:
            return th.cat([eps, th.full_like(eps, 0.3)], dim=1)
        return eps

    return model


def pattern(shape, k):
    n = 1
    for s in shape:
        n *= s
    idx = th.arange(n, dtype=th.float64)
    return th.sin(idx * 0.37 + 1.3 * k).mul(1.5).float().view(*shape)


def run_case(case):
    shape = case["shape"]
    x_t = pattern(shape, 100)
    drawn = []
    real_randn_like = th.randn_like

    def fake_randn_like(x, *a, **kw):
        z = pattern(list(x.shape), len(drawn))
        drawn.append(z)
        return z

    seen = []
    d = make(case["schedule"], case["train_steps"], case["steps"], case["learn_sigma"], case["rescale"])
    th.randn_like = fake_randn_like
    try:
        with th.no_grad():
            if case["sampler"] == "ddim":
                if "guidance" in case:
                    g = case["guidance"]
                    base = fake_model(case["learn_sigma"], seen)
                    c = shape[1]

                    def model_fn(x, ts, y):
                        # GLIDE's text2im notebook: both halves in one forward.
                        half = x[: len(x) // 2]
                        combined = th.cat([half, half], dim=0)
                        out = base(combined, ts, y)
                        eps, rest = out[:, :c], out[:, c:]
                        cond_eps, uncond_eps = th.split(eps, len(eps) // 2, dim=0)
                        half_eps = uncond_eps + g["scale"] * (cond_eps - uncond_eps)
                        eps = th.cat([half_eps, half_eps], dim=0)
                        return th.cat([eps, rest], dim=1)

                    y = th.tensor(g["cond"] + g["uncond"])
                    full = th.cat([x_t, x_t], dim=0)
                    out = d.ddim_sample_loop(model_fn, [2 * shape[0]] + shape[1:], noise=full, clip_denoised=case["clip"],
                                             model_kwargs={"y": y}, device="cpu", eta=case["eta"])
                    out = out[: shape[0]]
                else:
                    out = d.ddim_sample_loop(fake_model(case["learn_sigma"], seen), shape, noise=x_t, clip_denoised=case["clip"],
                                             device="cpu", eta=case["eta"])
            else:
                out = d.p_sample_loop(fake_model(case["learn_sigma"], seen), shape, noise=x_t, clip_denoised=case["clip"], device="cpu")
    finally:
        th.randn_like = real_randn_like
    flat = lambda t: [float(v) for v in t.reshape(-1).tolist()]
    return {
        **case,
        "timestep_map": [float(v) for v in d.timestep_map],
        "model_timesteps": seen,
        "x_T": flat(x_t),
        "noise": [flat(z[: shape[0]]) for z in drawn],
        "out": flat(out),
    }


CASES = [
    {"name": "ddim-eta0-linear-3", "sampler": "ddim", "schedule": "linear", "train_steps": 1000, "steps": 3, "eta": 0.0,
     "clip": True, "learn_sigma": False, "rescale": False, "shape": [2, 3, 4, 4]},
    {"name": "ddim-eta0-cosine-learned-noclip", "sampler": "ddim", "schedule": "cosine", "train_steps": 4000, "steps": 10, "eta": 0.0,
     "clip": False, "learn_sigma": True, "rescale": True, "shape": [1, 2, 3, 3]},
    {"name": "ddim-eta0.5-linear-5", "sampler": "ddim", "schedule": "linear", "train_steps": 1000, "steps": 5, "eta": 0.5,
     "clip": True, "learn_sigma": False, "rescale": False, "shape": [2, 3, 4, 4]},
    {"name": "ddim-eta0-cfg3", "sampler": "ddim", "schedule": "linear", "train_steps": 1000, "steps": 4, "eta": 0.0,
     "clip": True, "learn_sigma": True, "rescale": False, "shape": [2, 3, 4, 4],
     "guidance": {"scale": 3.0, "cond": [2, 7], "uncond": [10, 10]}},
    {"name": "ddpm-learned-4", "sampler": "ddpm", "schedule": "linear", "train_steps": 1000, "steps": 4, "eta": 0.0,
     "clip": True, "learn_sigma": True, "rescale": False, "shape": [2, 3, 4, 4]},
]

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    out = {
        "producer": "test/reference/make_sampling_reference.py",
        "reference": "openai/improved-diffusion improved_diffusion/gaussian_diffusion.py + respace.py @ 1bc7bbbdc414d83d4abf2ad8cc1446dc36c4e4d5",
        "torch": th.__version__,
        "layout": "NCHW, float32, flattened row-major",
        "cases": [run_case(c) for c in CASES],
    }
    with open(os.path.join(here, "sampling", "reference.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for c in out["cases"]:
        print(c["name"], "noise draws", len(c["noise"]), "max|out|", max(abs(v) for v in c["out"]))
