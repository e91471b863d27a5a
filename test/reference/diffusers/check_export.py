#!/usr/bin/env python3
"""Load a diffusers UNet2DModel export with the REAL diffusers code and run it.

  DIFFUSERS_SRC=/path/to/diffusers /usr/bin/python3 test/reference/diffusers/check_export.py DIR INPUTS.safetensors OUT.safetensors

DIR holds config.json and diffusion_pytorch_model.safetensors (what `export diffusers` writes).
The model is loaded with the real `UNet2DModel.from_pretrained(DIR)` (diffusers' own config
parsing, legacy attention-name fix-up and weight loading; diffusers_env.py supplies a strict
pure-Python safetensors reader in place of the safetensors package). Then, independently of
from_pretrained's own checks, the weights file is compared with the model strictly: after
diffusers' own legacy-name fix-up (_fix_state_dict_keys_on_load), every key must be in the
model's state_dict and vice versa, with equal shapes, and every loaded value must equal the file's
(cast to float32). Any difference exits with status 1 and names the keys.

INPUTS.safetensors holds io.x (F32 [B,C,H,W]), io.timesteps (I64 or F32 [B]) and, for
class-conditional models, io.y (I64 [B]); the parity cases' .safetensors work as INPUTS as they
are (their weight tensors are ignored). OUT.safetensors receives io.out (F32, the forward in
float32, eval mode, no_grad) and a JSON summary is printed on stdout (one line):
  {"config": {...}, "legacy_names_renamed": N, "loaded": "from_pretrained",
   "num_parameters": ..., "num_state_dict_tensors": ..., "out_shape": [...]}
Exit status: 0 ok, 1 the export does not match the model, 2 bad usage or input.
"""

import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from diffusers_env import load_diffusers, st_parse, st_serialize  # noqa: E402


def fail(code, msg):
    print(f"check_export: {msg}", file=sys.stderr)
    sys.exit(code)


def main(argv):
    if len(argv) != 4:
        fail(2, "usage: check_export.py DIR INPUTS.safetensors OUT.safetensors")
    d, inputs_path, out_path = argv[1:]
    cfg_path = os.path.join(d, "config.json")
    w_path = os.path.join(d, "diffusion_pytorch_model.safetensors")
    for p in (cfg_path, w_path, inputs_path):
        if not os.path.isfile(p):
            fail(2, f"missing file {p}")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("_class_name") != "UNet2DModel":
        fail(1, f"config.json _class_name is {cfg.get('_class_name')!r}, expected 'UNet2DModel'")

    env = load_diffusers()
    torch = env.torch
    torch.set_num_threads(2)

    model = env.UNet2DModel.from_pretrained(d)
    model.eval()

    # independent strict comparison of the file with the model from_pretrained built
    with open(w_path, "rb") as f:
        file_sd, _ = st_parse(f.read())
    fixed = dict(file_sd)
    model._fix_state_dict_keys_on_load(fixed)
    legacy_renamed = sum(1 for k in file_sd if k not in fixed)
    msd = model.state_dict()
    missing = [k for k in msd if k not in fixed]
    unexpected = [k for k in fixed if k not in msd]
    shapes = [f"{k}: file {list(fixed[k].shape)} vs model {list(msd[k].shape)}"
              for k in msd if k in fixed and tuple(fixed[k].shape) != tuple(msd[k].shape)]
    if missing or unexpected or shapes:
        fail(1, "weights do not match the model built from config.json:"
             + (f"\n  missing: {missing}" if missing else "")
             + (f"\n  unexpected: {unexpected}" if unexpected else "")
             + (f"\n  shape mismatch: {shapes}" if shapes else ""))
    differ = [k for k in msd if not torch.equal(msd[k].float(), fixed[k].float())]
    if differ:
        fail(1, f"from_pretrained loaded values that differ from the file for: {differ}")

    with open(inputs_path, "rb") as f:
        io, _ = st_parse(f.read())
    if "io.x" not in io or "io.timesteps" not in io:
        fail(2, f"{inputs_path} needs io.x and io.timesteps (has {sorted(k for k in io if k.startswith('io.'))})")
    x = io["io.x"].float()
    t = io["io.timesteps"]
    y = io.get("io.y")
    with torch.no_grad():
        out = model(x, t, class_labels=y).sample.float()
    with open(out_path, "wb") as f:
        f.write(st_serialize({"io.out": out}, {"producer": "test/reference/diffusers/check_export.py"}))
    print(json.dumps({
        "loaded": "from_pretrained",
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_state_dict_tensors": len(msd),
        "legacy_names_renamed": legacy_renamed,
        "config": json.loads(model.to_json_string()),
        "out_shape": list(out.shape),
    }, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
