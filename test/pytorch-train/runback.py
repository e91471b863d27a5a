"""For the test that loads a trained checkpoint back into UNet Studio (test code, not shipped). Usage:
    runback.py PROJECT_DIR CHECKPOINT.safetensors IO_OUT.safetensors
Loads PROJECT_DIR/model.py, the checkpoint into it with strict=True, runs it in eval mode on fixed
inputs, and writes the inputs (x, timesteps[, y]) and its output `out` to IO_OUT. Prints JSON facts."""
import importlib.util
import json
import os
import struct
import sys

import torch

root, checkpoint, io_out = sys.argv[1], sys.argv[2], sys.argv[3]
DTYPES = {'F32': torch.float32, 'I64': torch.int64}
NAMES = {torch.float32: 'F32', torch.int64: 'I64'}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    header.pop('__metadata__', None)
    out = {}
    for name, e in header.items():
        begin, end = e['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[8 + n + begin:8 + n + end]), dtype=DTYPES[e['dtype']]).reshape(e['shape'])
    return out


def write_safetensors(path, tensors):
    header, chunks, at = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    h = json.dumps(header).encode('utf-8')
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(chunks))


spec = importlib.util.spec_from_file_location('exported_model', os.path.join(root, 'model.py'))
model_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_py)
net = model_py.build_model().eval()
net.load_state_dict(read_safetensors(checkpoint), strict=True)
g = torch.Generator().manual_seed(7)
batch = 3
inputs = {'x': torch.randn((batch,) + tuple(model_py.INPUT_SHAPE), generator=g), 'timesteps': torch.tensor([0, 417, 999])}
if 'y' in model_py.INPUT_NAMES:
    inputs['y'] = torch.arange(batch) % model_py.NUM_CLASSES
with torch.no_grad():
    out = net(*[inputs[k] for k in model_py.INPUT_NAMES])
write_safetensors(io_out, dict(inputs, out=out))
print(json.dumps({'unused_parameters': model_py.UNUSED_PARAMETERS, 'max_abs_out': float(out.abs().max()),
                  'out_shape': list(out.shape)}))
