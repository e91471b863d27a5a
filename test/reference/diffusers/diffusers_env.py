"""Make the REAL huggingface/diffusers UNet2DModel importable with Debian bookworm's torch 1.13.

Nothing here changes any numerics of diffusers: the model code (unet_2d.py, unet_2d_blocks.py,
resnet.py, embeddings.py, attention_processor.py, downsampling.py, upsampling.py, activations.py,
normalization.py, attention.py, configuration_utils.py, modeling_utils.py, ...) runs verbatim from
a diffusers source tree (env DIFFUSERS_SRC = the repository root, or its src/ folder).

What is stubbed, and why (all at import time, through sys.modules / a meta-path finder):

1. Third-party packages Debian bookworm does not ship (huggingface_hub, safetensors, filelock,
   regex, importlib_metadata, tqdm). Each is a stub module; any attribute read from it is logged
   in STUB_LOG and becomes
     * a fixed value for the few names diffusers reads at import time (HF_HOME, HF_HUB_OFFLINE,
       HF_HUB_DISABLE_TELEMETRY, is_jinja_available, validate_hf_hub_args = identity decorator),
     * an Exception subclass for names ending in Error/Exception/Warning,
     * otherwise a class whose constructor raises NotImplementedError (so any real use of the hub,
       e.g. a download, fails loudly instead of doing something wrong).
   Exception: safetensors.torch.load / load_file / save_file are a small, strict, pure-Python
   implementation of the .safetensors format (F32/F16/BF16/F64/I64/I32/I16/I8/U8/BOOL), because
   ModelMixin.from_pretrained reads diffusion_pytorch_model.safetensors through it.
2. diffusers.dependency_versions_check: its import-time check that pip's metadata lists
   huggingface-hub, filelock, ... is replaced by a no-op (packaging plumbing).
3. diffusers.models.unets and diffusers.models.transformers are registered as plain namespace
   packages over their real folders, so their __init__.py files (which import every UNet and
   every transformer model diffusers has) are not executed; the real submodules that
   UNet2DModel needs (unets/unet_2d.py, unets/unet_2d_blocks.py, transformers/transformer_2d.py,
   transformers/dual_transformer_2d.py) are imported from those folders as usual.
4. torch 1.13 lacks some torch 2.x names that diffusers' utilities touch at import time (device
   back-end tables, decorators and type annotations): torch.compiler (disable = identity
   decorator, is_compiling() = False), torch.xpu, torch.mps, torch.distributed.device_mesh,
   torch.distributed._functional_collectives and the float8/uint16-64 dtypes. They are added as
   inert placeholders (is_available() is False; calling anything raises NotImplementedError);
   TORCH_POLYFILLS lists what was added.
   torch 1.13 has no F.scaled_dot_product_attention, so diffusers' Attention picks its classic
   AttnProcessor (not AttnProcessor2_0) by itself; make_reference.py asserts that.

Use:  env = load_diffusers(src);  env.UNet2DModel, env.embeddings, env.attention_processor ...
"""

import importlib.abc
import importlib.machinery
import json
import os
import struct
import sys
import types

STUB_ROOTS = ("huggingface_hub", "safetensors", "filelock", "regex", "importlib_metadata", "tqdm")
STUB_LOG = []  # "module.attr" names read from stub modules, in first-read order
TORCH_POLYFILLS = []  # torch attributes added because torch 1.13 lacks them
TORCH_MISSING_MODULES = ("torch.distributed._functional_collectives",)

_FIXED = {
    "huggingface_hub.constants.HF_HOME": "/nonexistent-hf-home",
    "huggingface_hub.constants.HF_HUB_OFFLINE": True,
    "huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY": True,
    "huggingface_hub.utils.is_jinja_available": (lambda: False),
    "huggingface_hub.utils.validate_hf_hub_args": (lambda f: f),
}


# ----------------------------------------------------------------------------------------
# safetensors (strict pure-Python reader/writer used by the stub safetensors.torch)
# ----------------------------------------------------------------------------------------

_ST_DTYPES = {  # safetensors dtype -> (numpy dtype str, bytes per element)
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1), "U8": ("u1", 1),
    "BOOL": ("?", 1),
}


def st_parse(data):
    """Parse .safetensors bytes -> (dict name -> torch.Tensor in file order, metadata). Strict."""
    import numpy as np
    import torch

    if len(data) < 8:
        raise ValueError("safetensors: file shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8 or hlen > 100_000_000:
        raise ValueError(f"safetensors: header length {hlen} exceeds the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    body = memoryview(data)[8 + hlen:]
    out = {}
    end_max = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"safetensors: tensor {name!r} has unsupported dtype {dt}")
        npdt, size = _ST_DTYPES[dt]
        shape = [int(s) for s in info["shape"]]
        a, b = info["data_offsets"]
        n = 1
        for s in shape:
            n *= s
        if not (0 <= a <= b <= len(body)) or b - a != n * size:
            raise ValueError(f"safetensors: tensor {name!r} has bad offsets {a}..{b} for {dt}{shape}")
        if a != end_max:
            raise ValueError(f"safetensors: tensor {name!r} is not contiguous with the previous one")
        end_max = b
        arr = np.frombuffer(body[a:b], dtype=npdt).reshape(shape).copy()
        if dt == "BF16":
            t = torch.from_numpy(arr.view("<i2")).view(torch.bfloat16)
        else:
            t = torch.from_numpy(arr)
        out[name] = t
    if end_max != len(body):
        raise ValueError("safetensors: trailing bytes after the last tensor")
    # keep the header's key order (json object order), as safetensors does for load
    ordered = {k: out[k] for k in header}
    return ordered, meta


def st_serialize(tensors, metadata=None):
    """{name: torch.Tensor | np.ndarray} -> bytes; header keys sorted, data in header order,
    header padded with spaces to a multiple of 8 (same layout as the safetensors package)."""
    import numpy as np
    import torch

    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            if t.dtype == torch.bfloat16:
                raw, dt = t.view(torch.int16).numpy().astype("<i2").tobytes(), "BF16"
            else:
                a = t.numpy()
                raw, dt = None, None
        else:
            a = np.asarray(t)
            raw, dt = None, None
        if raw is None:
            kinds = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
                     np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16",
                     np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}
            dt = kinds[a.dtype.newbyteorder("=")]
            raw = np.ascontiguousarray(a).astype(_ST_DTYPES[dt][0], copy=False).tobytes(order="C")
        shape = list(t.shape)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(chunks)


def _make_safetensors_torch(mod):
    def load(data):
        return st_parse(bytes(data))[0]

    def load_file(filename, device="cpu"):
        with open(filename, "rb") as f:
            tensors = st_parse(f.read())[0]
        return {k: v.to(device) for k, v in tensors.items()}

    def save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(st_serialize(tensors, metadata))

    mod.load, mod.load_file, mod.save_file = load, load_file, save_file


# ----------------------------------------------------------------------------------------
# stub modules
# ----------------------------------------------------------------------------------------


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        full = f"{self.__name__}.{name}"
        if full == "safetensors.torch":  # `import safetensors` then `safetensors.torch.load_file`
            import importlib

            return importlib.import_module(full)
        if full in _FIXED:
            v = _FIXED[full]
        elif name.endswith(("Error", "Exception", "Warning")):
            v = type(name, (Exception,), {})
        else:
            def _raise(*a, _n=full, **k):
                raise NotImplementedError(f"{_n} is a stub (not installed); it was called")
            v = type(name, (), {"__init__": _raise})
        setattr(self, name, v)
        STUB_LOG.append(full)
        return v


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname in TORCH_MISSING_MODULES or fullname.split(".")[0] in STUB_ROOTS:
            try:  # never shadow a real installed package
                if fullname.split(".")[0] in STUB_ROOTS and fullname == fullname.split(".")[0]:
                    for f in sys.meta_path:
                        if f is not self and hasattr(f, "find_spec") and f.find_spec(fullname, path):
                            return None
            except Exception:
                pass
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        if module.__name__ == "safetensors.torch":
            _make_safetensors_torch(module)


class _TorchPlaceholder:
    def __init__(self, name):
        self._n = name

    def __call__(self, *a, **k):
        raise NotImplementedError(f"{self._n} does not exist in torch 1.13 (placeholder called)")

    def __getattr__(self, a):
        if a.startswith("__"):
            raise AttributeError(a)
        full = f"{self._n}.{a}"
        if a == "is_available":
            v = lambda: False  # noqa: E731
        elif a[:1].isupper():
            def _raise(*x, _n=full, **k):
                raise NotImplementedError(f"{_n} does not exist in torch 1.13 (placeholder called)")
            v = type(a, (), {"__init__": _raise})
        else:
            v = _TorchPlaceholder(full)
        object.__setattr__(self, a, v)
        return v


class _MissingDtype:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<torch.{self.name}: not in torch 1.13>"


def _polyfill_torch(torch):
    for path in ("xpu", "mps", "distributed.device_mesh"):
        obj = torch
        parts = path.split(".")
        for p in parts[:-1]:
            obj = getattr(obj, p)
        if not hasattr(obj, parts[-1]):
            setattr(obj, parts[-1], _TorchPlaceholder("torch." + path))
            TORCH_POLYFILLS.append("torch." + path)
    if not hasattr(torch, "compiler"):
        # torch.compiler.disable is used as a decorator (identity when not compiling);
        # is_compiling() is False: nothing is ever compiled here.
        comp = _TorchPlaceholder("torch.compiler")
        object.__setattr__(comp, "disable", lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f))
        object.__setattr__(comp, "is_compiling", lambda: False)
        object.__setattr__(comp, "is_dynamo_compiling", lambda: False)
        torch.compiler = comp
        TORCH_POLYFILLS.append("torch.compiler (disable = identity decorator, is_compiling() = False)")
    for d in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"):
        if not hasattr(torch, d):
            setattr(torch, d, _MissingDtype(d))
            TORCH_POLYFILLS.append("torch." + d)
    for m in TORCH_MISSING_MODULES:
        if m not in sys.modules:
            TORCH_POLYFILLS.append(m)


def _synth_pkg(src_root, name):
    m = types.ModuleType(name)
    m.__path__ = [os.path.join(src_root, *name.split("."))]
    m.__package__ = name
    m.__file__ = None
    sys.modules[name] = m
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, m)


_LOADED = None


def resolve_src(src=None):
    src = src or os.environ.get("DIFFUSERS_SRC")
    if not src:
        raise SystemExit("set DIFFUSERS_SRC to a huggingface/diffusers source tree (the repo root or its src/)")
    src = os.path.abspath(src)
    if os.path.isdir(os.path.join(src, "src", "diffusers")):
        src = os.path.join(src, "src")
    if not os.path.isfile(os.path.join(src, "diffusers", "models", "unets", "unet_2d.py")):
        raise SystemExit(f"DIFFUSERS_SRC={src!r} does not contain diffusers/models/unets/unet_2d.py")
    return src


def load_diffusers(src=None):
    """Import the real diffusers from `src` (see module docstring). Returns a namespace."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    src = resolve_src(src)
    import torch

    if "diffusers" in sys.modules:
        raise SystemExit("diffusers is already imported; load_diffusers must do the import")
    sys.meta_path.insert(0, _Finder())
    _polyfill_torch(torch)
    sys.path.insert(0, src)
    dv = types.ModuleType("diffusers.dependency_versions_check")
    dv.dep_version_check = lambda *a, **k: None
    sys.modules["diffusers.dependency_versions_check"] = dv

    import diffusers  # noqa: F401  (real package __init__: lazy import structure only)
    import diffusers.models  # noqa: F401

    for p in ("diffusers.models.unets", "diffusers.models.transformers"):
        _synth_pkg(src, p)
    from diffusers.models import attention_processor, embeddings
    from diffusers.models.unets import unet_2d
    from diffusers.utils import logging as dlogging

    dlogging.set_verbosity_error()
    _LOADED = types.SimpleNamespace(
        src=src,
        diffusers=diffusers,
        version=diffusers.__version__,
        UNet2DModel=unet_2d.UNet2DModel,
        unet_2d=unet_2d,
        embeddings=embeddings,
        attention_processor=attention_processor,
        torch=torch,
    )
    return _LOADED
