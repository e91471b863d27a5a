"""Test harness for the PyTorch export (test code, not shipped): runs generated model.py files.

Usage: /usr/bin/python3 harness.py JOBS.json  -> prints one JSON object {"results": [...]} on stdout.

Each job: {"id", "model" (path of a model.py), optional "plain" (path of the same graph's model.py with
plain names: the token structures must be equal), "expected_keys" (state_dict keys, in order when
"ordered"), "state_dict_sha256" (optional, of "key:shape\\n" lines), "weights" (a .safetensors; keys
starting with "io." are left out), "io" (a .safetensors with the inputs and the reference output),
"inputs" (forward argument -> key in io; only the model's INPUT_NAMES are read, so one map can serve
models with and without a context or a label), "out" (key in io), "atol", "rtol"}.
"""
import builtins
import contextlib
import copy
import hashlib
import io
import json
import runpy
import sys

import torch

torch.set_num_threads(1)  # vitest runs two test files at once on 2 cores: more threads oversubscribe (measured up to 10x slower)

from harness_io import load_module, read_safetensors, token_kinds  # noqa: E402 (after the thread setting)


def run_job(i, job):
    r = {"id": job["id"]}
    source = open(job["model"], "rb").read()
    compile(source, job["model"], "exec")  # py_compile's check
    if "plain" in job:
        a, b = token_kinds(job["model"]), token_kinds(job["plain"])
        r["same_structure"] = a == b
        if a != b:
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            r["structure_diff"] = f"token {at}: {a[at - 3 : at + 3]} vs plain {b[at - 3 : at + 3]}"
    mod = load_module(job["model"], f"generated_model_{i}")
    torch.manual_seed(0)
    model = mod.build_model().eval()
    sd = model.state_dict()
    keys = list(sd.keys())
    r["keys_equal"] = keys == job["expected_keys"] if job.get("ordered") else sorted(keys) == sorted(job["expected_keys"])
    if not r["keys_equal"]:
        r["keys_diff"] = {
            "missing": sorted(set(job["expected_keys"]) - set(keys))[:5],
            "unexpected": sorted(set(keys) - set(job["expected_keys"]))[:5],
        }
    if "state_dict_sha256" in job:
        lines = "".join(f"{k}:{'x'.join(str(d) for d in v.shape)}\n" for k, v in sd.items())
        r["sha_equal"] = hashlib.sha256(lines.encode("utf-8")).hexdigest() == job["state_dict_sha256"]
    params = sum(p.numel() for p in model.parameters())
    r["parameter_count_ok"] = params == mod.PARAMETER_COUNT
    r["metadata"] = {
        "INPUT_SHAPE": list(mod.INPUT_SHAPE),
        "OUTPUT_SHAPE": list(mod.OUTPUT_SHAPE),
        "NUM_CLASSES": mod.NUM_CLASSES,
        "INPUT_NAMES": list(mod.INPUT_NAMES),
        "PARAMETER_COUNT": mod.PARAMETER_COUNT,
        "MODEL_NAME_ok": mod.MODEL_NAME == job.get("graph_name", mod.MODEL_NAME),
    }
    if "weights" in job:
        tensors = read_safetensors(job["weights"])
        state = {k: v for k, v in tensors.items() if not k.startswith("io.")}
        model.load_state_dict(state, strict=True)
        iot = tensors if job["io"] == job["weights"] else read_safetensors(job["io"])
        args = [iot[job["inputs"][name]] for name in mod.INPUT_NAMES]
        with torch.no_grad():
            out = model(*args)
        ref = iot[job["out"]]
        r["shape_equal"] = list(out.shape) == list(ref.shape)
        if r["shape_equal"]:
            d = (out.double() - ref.double()).abs()
            tol = job["atol"] + job["rtol"] * ref.double().abs()
            ratio = d / tol
            r["worst"] = float(ratio.max()) if ratio.numel() else 0.0
            r["max_abs"] = float(d.max()) if d.numel() else 0.0
            r["max_ref"] = float(ref.abs().max()) if ref.numel() else 0.0
            r["finite"] = bool(torch.isfinite(out).all())
    else:
        # No reference: run once on random inputs of the declared shapes.
        g = torch.Generator().manual_seed(0)
        args = [torch.randn((2,) + tuple(mod.INPUT_SHAPE), generator=g)]
        if "timesteps" in mod.INPUT_NAMES:
            args.append(torch.randint(0, 1000, (2,), generator=g))
        if "y" in mod.INPUT_NAMES:
            args.append(torch.randint(0, mod.NUM_CLASSES, (2,), generator=g))
        with torch.no_grad():
            out = model(*args)
        r["out_shape"] = list(out.shape)
        r["finite"] = bool(torch.isfinite(out).all())
        if job.get("train"):
            # What a training script does with it: a copy for the EMA, a training step.
            r["deepcopy_ok"] = list(copy.deepcopy(model).state_dict().keys()) == keys
            model.train()
            model(*args).pow(2).mean().backward()
            r["backward_ok"] = all(p.grad is not None for p in model.parameters())
    if job.get("run_main"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            runpy.run_path(job["model"], run_name="__main__")
        r["main_output"] = buf.getvalue()
    model.train()  # train()/eval() must work whatever the children's names
    model.eval()
    return r


def main():
    jobs = json.load(open(sys.argv[1]))
    results = []
    for i, job in enumerate(jobs):
        try:
            results.append(run_job(i, job))
        except Exception as e:  # reported per job, so one failure does not hide the others
            results.append({"id": job["id"], "error": f"{type(e).__name__}: {e}"})
    results.append({"id": "__pwned", "pwned": getattr(builtins, "__pwned", None) is not None})
    json.dump({"results": results}, sys.stdout)


main()
