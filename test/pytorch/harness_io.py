"""What both PyTorch test harnesses (harness.py, groups_harness.py) need to read files and load
generated modules (test code, not shipped). Imported from the harness's own folder (a script's
folder is first on sys.path)."""
import importlib.util
import io
import json
import struct
import tokenize

import torch

DTYPES = {"F32": (torch.float32, 4), "I64": (torch.int64, 8), "I32": (torch.int32, 4)}


def read_safetensors(path):
    """A minimal .safetensors reader: {name: tensor}."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, size = DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        count = 1
        for d in shape:
            count *= d
        assert end - begin == count * size, name
        if count == 0:
            out[name] = torch.zeros(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=dtype).reshape(shape)
    return out


def token_kinds(path):
    with open(path, "rb") as f:
        toks = list(tokenize.tokenize(io.BytesIO(f.read()).readline))
    return [tokenize.tok_name[t.type] for t in toks]


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
