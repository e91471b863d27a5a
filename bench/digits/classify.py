"""Classifies generated digit samples with a classifier trained on the real digits.

python3 classify.py SAMPLES.safetensors [GRID.png]
SAMPLES holds "x" float32 [N, 1, 16, 16] in [-1, 1] and "y" (the classes the samples were drawn
for). The classifier: scikit-learn's LogisticRegression on scikit-learn's 8x8 digits, upscaled to
16x16 exactly as make_digits.py does, trained on 80% (held-out accuracy printed). Prints how many
samples it labels with confidence above 0.5, the spread of the predicted classes, and how many
match the class asked for.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, h in header.items():
        if name == '__metadata__':
            continue
        dt = {'F32': np.float32, 'I64': np.int64, 'I32': np.int32}[h['dtype']]
        a, b = h['data_offsets']
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt).reshape(h['shape'])
    return out


def real_digits():
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(16, 16), mode='bilinear', align_corners=False).clamp(0, 1) * 2 - 1
    return x.reshape(len(x), -1).numpy(), d.target


def main():
    x, y = real_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(x[idx[:cut]], y[idx[:cut]])
    held = clf.score(x[idx[cut:]], y[idx[cut:]])
    s = read_safetensors(sys.argv[1])
    xs = s['x'].reshape(len(s['x']), -1).astype(np.float32)
    asked = s['y'].astype(np.int64) if 'y' in s else None
    p = clf.predict_proba(xs)
    pred = p.argmax(1)
    conf = p.max(1)
    confident = int((conf > 0.5).sum())
    spread = np.bincount(pred[conf > 0.5], minlength=10).tolist()
    result = {
        'classifier_held_out_accuracy': round(float(held), 4),
        'samples': int(len(xs)),
        'confident_over_0_5': confident,
        'confident_class_spread': spread,
        'matching_asked_class': int((pred == asked).sum()) if asked is not None else None,
        'confident_and_matching': int(((pred == asked) & (conf > 0.5)).sum()) if asked is not None else None,
    }
    print(json.dumps(result))
    if len(sys.argv) > 2:
        # The samples as a grid (one row per class when they were drawn 0..9 in turn), 4x nearest.
        from PIL import Image
        imgs = ((s['x'][:, 0] + 1) * 127.5).clip(0, 255).astype(np.uint8)
        n = len(imgs)
        cols = 10
        rows = (n + cols - 1) // cols
        grid = np.zeros((rows * 18, cols * 18), np.uint8)
        order = np.argsort(asked, kind='stable') if asked is not None else np.arange(n)
        for k, i in enumerate(order):
            r, c = divmod(k, cols)
            grid[r * 18 + 1:r * 18 + 17, c * 18 + 1:c * 18 + 17] = imgs[i]
        # transpose so that each column is one class
        grid = grid.reshape(rows, 18, cols, 18).transpose(2, 1, 0, 3).reshape(cols * 18, rows * 18)
        Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(sys.argv[2])


main()
