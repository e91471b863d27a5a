"""scikit-learn's bundled 8x8 handwritten digits (1797 images), upscaled to 16x16 (bilinear), as the
float32 [N, 1, 16, 16] array in [-1, 1] and int64 labels that the exported train.py reads."""
import sys
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

out = sys.argv[1] if len(sys.argv) > 1 else '.'
d = load_digits()
x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)  # [N,1,8,8] in [0,1]
x = F.interpolate(x, size=(16, 16), mode='bilinear', align_corners=False).clamp(0, 1)
x = x * 2 - 1
np.save(f'{out}/digits16.npy', x.numpy().astype(np.float32))
np.save(f'{out}/digits16_labels.npy', d.target.astype(np.int64))
print(x.shape, d.target.shape, float(x.min()), float(x.max()))
