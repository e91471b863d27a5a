"""python3 to_f16.py IN.safetensors OUT.safetensors: every F32 tensor as F16 (numpy's rounding),
names unchanged, tensors in sorted order, header padded to 8 bytes (the app's reader checks it)."""
import json
import struct
import sys

import numpy as np

src, dst = sys.argv[1], sys.argv[2]
with open(src, 'rb') as f:
    data = f.read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
header.pop('__metadata__', None)
out_header, blobs, offset = {}, [], 0
for name in sorted(header):
    h = header[name]
    a, b = h['data_offsets']
    if h['dtype'] != 'F32':
        raise SystemExit(f'{name}: {h["dtype"]}, expected F32')
    arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype='<f4').astype('<f2')
    blob = arr.tobytes()
    out_header[name] = {'dtype': 'F16', 'shape': h['shape'], 'data_offsets': [offset, offset + len(blob)]}
    blobs.append(blob)
    offset += len(blob)
text = json.dumps(out_header, separators=(',', ':')).encode()
text += b' ' * ((8 - len(text) % 8) % 8)
with open(dst, 'wb') as f:
    f.write(struct.pack('<Q', len(text)))
    f.write(text)
    for blob in blobs:
        f.write(blob)
print(f'{len(out_header)} tensors, {8 + len(text) + offset} bytes -> {dst}')
