"""Test harness for the grouped PyTorch export (test code, not shipped): each job's grouped model.py
against the same graph's model.py without groups.

Usage: /usr/bin/python3 groups_harness.py JOBS.json  -> prints one JSON object {"results": [...]}.

Each job: {"id", "grouped" (path), "flat" (path), "expected_keys" (state_dict keys in order), optional
"plain" (a model.py whose token kinds the grouped one must have), optional reference: "weights"
(.safetensors; "io." keys left out), "io", "inputs" (forward argument -> key), "out", "atol", "rtol"}.
"""
import builtins
import json
import sys
import time

import torch

torch.set_num_threads(1)  # measured: on a shared 2-core machine, 2 threads run up to 10x slower

from harness_io import load_module, read_safetensors, token_kinds  # noqa: E402 (after the thread setting)


def build(mod):
    torch.manual_seed(0)
    return mod.build_model().eval()


def perturbed(sd):
    """The same state_dict with every float tensor moved (so zero-initialised layers matter too)."""
    g = torch.Generator().manual_seed(1)
    out = {}
    for k, v in sd.items():
        if not v.is_floating_point():
            out[k] = v.clone()
        elif k.endswith("running_var"):
            out[k] = v + 0.5 * torch.rand(v.shape, generator=g)
        else:
            out[k] = v + 0.05 * torch.randn(v.shape, generator=g)
    return out


def example_args(mod):
    g = torch.Generator().manual_seed(2)
    args = [torch.randn((2,) + tuple(mod.INPUT_SHAPE), generator=g)]
    if "timesteps" in mod.INPUT_NAMES:
        args.append(torch.tensor([3, 517]))
    if "y" in mod.INPUT_NAMES:
        args.append(torch.randint(0, mod.NUM_CLASSES, (2,), generator=g))
    return args


def train_step(r, g, f, args):
    """A training step (dropout drawn from the same seed): the same gradient for every parameter."""
    g.train()
    f.train()
    torch.manual_seed(3)
    g(*args).pow(2).mean().backward()
    torch.manual_seed(3)
    f(*args).pow(2).mean().backward()
    fp = dict(f.named_parameters())
    same = lambda a, b: (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))  # noqa: E731
    r["grads_equal"] = all(same(p.grad, fp[k].grad) for k, p in g.named_parameters())
    r["no_grad"] = [k for k, p in g.named_parameters() if p.grad is None]
    g.eval()


def run_job(i, job):
    r = {"id": job["id"]}
    if "plain" in job:
        r["same_structure"] = token_kinds(job["grouped"]) == token_kinds(job["plain"])
    grouped = load_module(job["grouped"], f"grouped_{i}")
    flat = load_module(job["flat"], f"flat_{i}")
    g, f = build(grouped), build(flat)
    gsd, fsd = g.state_dict(), f.state_dict()
    r["keys"] = list(gsd.keys())
    r["keys_equal"] = list(gsd.keys()) == list(fsd.keys()) == job["expected_keys"]
    r["shapes_equal"] = all(list(gsd[k].shape) == list(fsd[k].shape) for k in fsd) if r["keys_equal"] else False
    # Same registration order, same draws: a fresh grouped model is the fresh flat model.
    r["init_equal"] = r["shapes_equal"] and all(torch.equal(gsd[k], fsd[k]) for k in fsd)
    # The group modules: path -> class name.
    base = grouped.GroupModule
    r["groups"] = {name: type(m).__name__ for name, m in g.named_modules() if isinstance(m, base)}
    r["flat_has_groups"] = hasattr(flat, "GroupModule")
    sd = perturbed(fsd)
    g.load_state_dict(sd, strict=True)
    f.load_state_dict(sd, strict=True)
    args = example_args(grouped)
    with torch.no_grad():
        og, of = g(*args), f(*args)
    r["bit_equal"] = bool(torch.equal(og, of))
    r["max_abs_diff"] = float((og.double() - of.double()).abs().max())
    r["max_out"] = float(of.abs().max())
    r["out_shape"] = list(og.shape)
    if job.get("train"):
        train_step(r, g, f, args)
    if "weights" in job:
        tensors = read_safetensors(job["weights"])
        ref_model = build(grouped)
        ref_model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("io.")}, strict=True)
        iot = tensors if job["io"] == job["weights"] else read_safetensors(job["io"])
        ref_args = [iot[job["inputs"][name]] for name in grouped.INPUT_NAMES]
        with torch.no_grad():
            out = ref_model(*ref_args)
        ref = iot[job["out"]]
        d = (out.double() - ref.double()).abs()
        r["ref_worst"] = float((d / (job["atol"] + job["rtol"] * ref.double().abs())).max())
        r["ref_max_abs"] = float(ref.abs().max())
    return r


def main():
    jobs = json.load(open(sys.argv[1]))
    results = []
    for i, job in enumerate(jobs):
        start = time.perf_counter()
        try:
            results.append(run_job(i, job))
            results[-1]["seconds"] = round(time.perf_counter() - start, 2)
        except Exception as e:  # reported per job
            results.append({"id": job["id"], "error": f"{type(e).__name__}: {e}"})
    results.append({"id": "__pwned", "pwned": getattr(builtins, "__pwned", None) is not None})
    json.dump({"results": results}, sys.stdout)


main()
