/**
 * The Python of the exported training project, kept as text so it bundles in the browser too.
 * It reads everything about the network from model.py at run time (MODEL_NAME, INPUT_SHAPE, OUTPUT_SHAPE,
 * NUM_CLASSES, INPUT_NAMES, PARAMETER_COUNT, build_model), so the text is the same for every graph; only
 * the first line (project.ts) names the graph. No backtick or dollar-brace may appear in it (String.raw).
 */

/** train.py after its first line. */
export const TRAIN_PY_BODY = String.raw`"""DDPM training (epsilon prediction) for the network in model.py, beside this file.

Runs as 'python train.py ...' (one process) and as 'torchrun --nproc_per_node=N train.py ...'
(DistributedDataParallel; --batch-size is per process). See README.md. Depends on torch and numpy;
PIL only when images are read or written.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as model_py  # noqa: E402  (model.py beside this file)

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')
PIL_MODES = {1: 'L', 3: 'RGB', 4: 'RGBA'}


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


def fail_line(e):
    """The one-line message of a UsageError (also when a DataLoader worker re-raised it)."""
    lines = [s.strip() for s in str(e).strip().splitlines() if s.strip()]
    line = lines[-1] if lines else type(e).__name__
    prefix = UsageError.__name__ + ': '
    return line[len(prefix):] if line.startswith(prefix) else line


def shape_text(shape):
    return '[' + ', '.join(str(int(s)) for s in shape) + ']'


# ---------------------------------------------------------------------------------------------
# Model contract (model.py)

def model_spec():
    c, h, w = (int(v) for v in model_py.INPUT_SHAPE)
    oc, oh, ow = (int(v) for v in model_py.OUTPUT_SHAPE)
    names = tuple(model_py.INPUT_NAMES)
    if 'x' not in names:
        raise UsageError('model.py has no image input x: train.py trains a denoiser forward(x, timesteps[, y])')
    if 'context' in names:
        raise UsageError('model.py takes a context (tokens x dim, text-encoder states): train.py and sample.py have no '
                         'source of contexts; call the model from your own loop with forward(%s)' % ', '.join(names))
    if (oh, ow) != (h, w) or oc not in (c, 2 * c):
        raise UsageError('model.py maps %s to %s: train.py needs an output of the input size with %d channels '
                         '(epsilon) or %d (epsilon and variance)' % (shape_text((c, h, w)), shape_text((oc, oh, ow)), c, 2 * c))
    num_classes = model_py.NUM_CLASSES
    if ('y' in names) != (num_classes is not None):
        raise UsageError('model.py: NUM_CLASSES is %r but the inputs are %r' % (num_classes, names))
    return {'channels': c, 'height': h, 'width': w, 'learn_sigma': oc == 2 * c,
            'num_classes': None if num_classes is None else int(num_classes), 'input_names': names}


def run_model(net, spec, x, t, y):
    inputs = {'x': x, 'timesteps': t.float(), 'y': y}
    return net(*[inputs[n] for n in spec['input_names']])


# ---------------------------------------------------------------------------------------------
# Diffusion (improved-diffusion's gaussian_diffusion.py: schedules, q_sample, hybrid loss, p_sample)

def beta_schedule(name, steps):
    if name == 'linear':
        scale = 1000.0 / steps
        return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)
    if name == 'cosine':
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)],
                        dtype=np.float64)
    raise UsageError('unknown schedule %r: use linear or cosine' % (name,))


def spaced_timesteps(total, count):
    """improved-diffusion's space_timesteps(total, [count]): count steps spread evenly, both ends kept."""
    if count < 1 or count > total:
        raise UsageError('cannot take %d sampling steps out of %d diffusion steps' % (count, total))
    if count == 1:
        return [0]
    stride, cur, out = (total - 1) / (count - 1), 0.0, []
    for _ in range(count):
        out.append(int(round(cur)))
        cur += stride
    return out


class Diffusion:
    """The process over 'timesteps' (indices into a schedule of 'total' steps; respaced when fewer)."""

    def __init__(self, betas, timesteps=None):
        base = np.asarray(betas, dtype=np.float64)
        self.total = len(base)
        if timesteps is None:
            timesteps = list(range(self.total))
        bar_base = np.cumprod(1.0 - base)
        betas, last = [], 1.0
        for t in timesteps:
            betas.append(1.0 - bar_base[t] / last)
            last = bar_base[t]
        betas = np.array(betas, dtype=np.float64)
        self.timestep_map = list(timesteps)
        self.num_timesteps = len(betas)
        self.betas = betas
        bar = np.cumprod(1.0 - betas)
        prev = np.append(1.0, bar[:-1])
        self.alphas_cumprod = bar
        self.sqrt_alphas_cumprod = np.sqrt(bar)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - bar)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / bar)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / bar - 1)
        self.posterior_variance = betas * (1.0 - prev) / (1.0 - bar)
        pv = self.posterior_variance
        self.posterior_log_variance_clipped = np.log(np.append(pv[1], pv[1:]) if len(pv) > 1 else betas)
        self.posterior_mean_coef1 = betas * np.sqrt(prev) / (1.0 - bar)
        self.posterior_mean_coef2 = (1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - bar)
        self.log_betas = np.log(betas)
        # FIXED_LARGE: beta_t, with the posterior variance at the first step.
        self.fixed_large_log_variance = np.log(np.append(pv[1], betas[1:]) if len(pv) > 1 else betas)

    @staticmethod
    def _at(arr, t, ndim):
        out = torch.from_numpy(arr).to(device=t.device)[t].float()
        return out.view(-1, *([1] * (ndim - 1)))

    def q_sample(self, x0, t, noise):
        return self._at(self.sqrt_alphas_cumprod, t, x0.dim()) * x0 + self._at(self.sqrt_one_minus_alphas_cumprod, t, x0.dim()) * noise

    def posterior_mean(self, x0, xt, t):
        return self._at(self.posterior_mean_coef1, t, xt.dim()) * x0 + self._at(self.posterior_mean_coef2, t, xt.dim()) * xt

    def x0_from_eps(self, xt, t, eps):
        return self._at(self.sqrt_recip_alphas_cumprod, t, xt.dim()) * xt - self._at(self.sqrt_recipm1_alphas_cumprod, t, xt.dim()) * eps

    def learned_log_variance(self, v, t):
        """LEARNED_RANGE: v in [-1, 1] interpolates between the clipped posterior log-variance and log beta."""
        frac = (v + 1) / 2
        return frac * self._at(self.log_betas, t, v.dim()) + (1 - frac) * self._at(self.posterior_log_variance_clipped, t, v.dim())

    def training_losses(self, out, x0, xt, t, noise, learn_sigma):
        """Per-example losses: mse (L_simple) and, with learned variance, vb (L_vlb term, RESCALED_MSE)."""
        c = x0.shape[1]
        out = out.float()
        if not learn_sigma:
            mse = ((noise - out) ** 2).mean(dim=list(range(1, out.dim())))
            return {'loss': mse, 'mse': mse}
        eps, v = out[:, :c], out[:, c:]
        mse = ((noise - eps) ** 2).mean(dim=list(range(1, out.dim())))
        # The vlb term learns the variance only: the mean is frozen (stop-gradient on eps).
        model_mean = self.posterior_mean(self.x0_from_eps(xt, t, eps.detach()), xt, t)
        model_log_var = self.learned_log_variance(v, t)
        true_mean = self.posterior_mean(x0, xt, t)
        true_log_var = self._at(self.posterior_log_variance_clipped, t, xt.dim())
        kl = normal_kl(true_mean, true_log_var, model_mean, model_log_var).mean(dim=list(range(1, out.dim()))) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_var)
        nll = nll.mean(dim=list(range(1, out.dim()))) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl) * (self.num_timesteps / 1000.0)
        return {'loss': mse + vb, 'mse': mse, 'vb': vb}

    def p_mean_log_variance(self, out, xt, i):
        """p(x_{t-1} | x_t) at (respaced) index i, x0 clipped to [-1, 1]: LEARNED_RANGE when the model
        outputs 2C channels, else FIXED_LARGE. Returns (mean, log variance)."""
        c = xt.shape[1]
        t = torch.full((xt.shape[0],), i, dtype=torch.long, device=xt.device)
        out = out.float()
        if out.shape[1] == 2 * c:
            eps, log_var = out[:, :c], self.learned_log_variance(out[:, c:], t)
        else:
            eps, log_var = out, self._at(self.fixed_large_log_variance, t, xt.dim()).expand_as(xt)
        x0 = self.x0_from_eps(xt, t, eps).clamp(-1, 1)
        return self.posterior_mean(x0, xt, t), log_var

    @torch.no_grad()
    def p_sample(self, out, xt, i, noise):
        """One reverse step x_t -> x_{t-1} (improved-diffusion's p_sample, clip_denoised=True)."""
        mean, log_var = self.p_mean_log_variance(out, xt, i)
        if i == 0:
            return mean
        return mean + torch.exp(0.5 * log_var) * noise


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + ((mean1 - mean2) ** 2) * torch.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


@torch.no_grad()
def sample_images(net, spec, diffusion, n, seed, device, labels=None, progress=None):
    """DDPM ancestral sampling (respaced by 'diffusion'); noise from a CPU generator, so a seed gives the same images anywhere."""
    gen = torch.Generator().manual_seed(int(seed))
    shape = (n, spec['channels'], spec['height'], spec['width'])
    x = torch.randn(shape, generator=gen).to(device)
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.long, device=device)
    steps = diffusion.num_timesteps
    for i in reversed(range(steps)):
        t = torch.full((n,), diffusion.timestep_map[i], dtype=torch.long, device=device)
        out = run_model(net, spec, x, t, y)
        noise = torch.randn(shape, generator=gen).to(device)
        x = diffusion.p_sample(out, x, i, noise)
        if progress is not None:
            progress(steps - i, steps)
    return x


def save_grid(images, path):
    """A PNG of the images (NCHW in [-1, 1]) in ceil(sqrt(n)) columns, no padding; 1/3/4 channels as L/RGB/RGBA, others as channel 0."""
    from PIL import Image
    x = ((images.float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = x.shape
    if c not in PIL_MODES:
        x, c = x[:, :1], 1
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = torch.zeros((c, rows * h, cols * w), dtype=torch.uint8)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = x[k]
    arr = grid.permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if c == 1 else arr, PIL_MODES[c])
    tmp = path + '.tmp'
    img.save(tmp, format='PNG')
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# .safetensors, written and read here (8-byte little-endian header length, JSON header, raw data)

ST_DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64',
             torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
             torch.bool: 'BOOL'}
ST_TORCH = {v: k for k, v in ST_DTYPES.items()}
ST_SIZES = {'F32': 4, 'F16': 2, 'BF16': 2, 'F64': 8, 'I64': 8, 'I32': 4, 'I16': 2, 'I8': 1, 'U8': 1, 'BOOL': 1}


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder('<'), copy=False).tobytes()


def safetensors_bytes(state, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in state.items():
        if t.dtype not in ST_DTYPES:
            raise UsageError('cannot store %s of dtype %s in .safetensors' % (name, t.dtype))
        data = tensor_bytes(t)
        header[name] = {'dtype': ST_DTYPES[t.dtype], 'shape': [int(s) for s in t.shape],
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(blobs)


def write_file(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def read_safetensors(path):
    """{name: tensor} and the metadata of a .safetensors file; UsageError naming the problem if it is not one."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise UsageError('cannot read checkpoint %s: %s' % (path, e.strerror or e))
    bad = 'checkpoint %s is not a .safetensors file' % path
    if len(raw) < 8:
        raise UsageError(bad + ' (%d bytes)' % len(raw))
    (n,) = struct.unpack('<Q', raw[:8])
    if n > len(raw) - 8:
        raise UsageError(bad + ' (header length %d beyond the end)' % n)
    try:
        header = json.loads(raw[8:8 + n].decode('utf-8'))
    except ValueError:
        raise UsageError(bad + ' (header is not JSON)')
    if not isinstance(header, dict):
        raise UsageError(bad + ' (header is not an object)')
    meta = header.pop('__metadata__', None) or {}
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, e in header.items():
        try:
            dtype, shape, (a, b) = e['dtype'], [int(s) for s in e['shape']], e['data_offsets']
        except (TypeError, KeyError, ValueError):
            raise UsageError(bad + ' (entry %r)' % (name,))
        if dtype not in ST_TORCH:
            raise UsageError('checkpoint %s: %s has dtype %s, not supported here' % (path, name, dtype))
        if not (0 <= a <= b <= len(data)) or b - a != ST_SIZES[dtype] * int(np.prod(shape, dtype=np.int64)):
            raise UsageError(bad + ' (%s: data_offsets %r do not fit)' % (name, [a, b]))
        chunk = bytes(data[a:b])
        if dtype == 'BF16':
            t = torch.from_numpy(np.frombuffer(chunk, dtype='<i2').copy()).view(torch.bfloat16)
        else:
            npd = torch.empty((), dtype=ST_TORCH[dtype]).numpy().dtype.newbyteorder('<')
            t = torch.from_numpy(np.frombuffer(chunk, dtype=npd).astype(npd.newbyteorder('='), copy=True))
        out[name] = t.reshape(shape)
    return out, meta


def check_state(path, got, module):
    """PyTorch's strict load_state_dict check as one line: missing, unexpected and mis-shaped names."""
    want = module.state_dict()
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    shaped = ['%s (checkpoint %s, model %s)' % (k, shape_text(got[k].shape), shape_text(want[k].shape))
              for k in want if k in got and tuple(got[k].shape) != tuple(want[k].shape)]
    if not (missing or unexpected or shaped):
        return

    def part(label, names):
        if not names:
            return None
        shown = ', '.join(names[:5]) + (', ... (%d more)' % (len(names) - 5) if len(names) > 5 else '')
        return '%d %s: %s' % (len(names), label, shown)
    parts = [p for p in (part('missing', missing), part('unexpected', unexpected), part('mis-shaped', shaped)) if p]
    raise UsageError('checkpoint %s does not fit model %s: %s' % (path, json.dumps(model_py.MODEL_NAME), '; '.join(parts)))


def load_weights(path, module):
    state, meta = read_safetensors(path)
    check_state(path, state, module)
    module.load_state_dict(state, strict=True)
    return meta


# ---------------------------------------------------------------------------------------------
# Data: a folder of images (one subfolder per class when the model takes labels) or a .npy array

class ImageFiles(torch.utils.data.Dataset):
    def __init__(self, files, labels, spec):
        self.files, self.labels, self.spec = files, labels, spec

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image
        path = self.files[i]
        try:
            with Image.open(path) as im:
                im = im.convert(PIL_MODES[self.spec['channels']])
                im = center_crop_resize(im, self.spec['width'], self.spec['height'])
                a = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError) as e:
            raise UsageError('cannot read image %s: %s' % (path, e))
        if a.ndim == 2:
            a = a[:, :, None]
        x = torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0)
        return x, (self.labels[i] if self.labels is not None else 0)


def center_crop_resize(im, w, h):
    """Scale so the image covers w x h (bicubic), then cut the centre."""
    from PIL import Image
    s = max(w / im.width, h / im.height)
    nw, nh = max(w, int(round(im.width * s))), max(h, int(round(im.height * s)))
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - w) // 2, (nh - h) // 2
    return im.crop((left, top, left + w, top + h))


class ArrayImages(torch.utils.data.Dataset):
    def __init__(self, array, labels, nchw_float):
        self.array, self.labels, self.nchw_float = array, labels, nchw_float

    def __len__(self):
        return self.array.shape[0]

    def __getitem__(self, i):
        a = np.asarray(self.array[i])
        if self.nchw_float:
            x = torch.from_numpy(a.astype(np.float32))
        else:
            if a.ndim == 2:
                a = a[:, :, None]
            x = torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0)
        return x, (int(self.labels[i]) if self.labels is not None else 0)


def image_files(folder):
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        out.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS))
    return out


def open_dataset(args, spec):
    path, num_classes = args.data, spec['num_classes']
    if not path:
        raise UsageError('no data: pass --data FOLDER (images) or --data FILE.npy')
    if not os.path.exists(path):
        raise UsageError('data path %s does not exist' % path)
    if args.labels and num_classes is None:
        raise UsageError('--labels given, but model %s takes no class labels' % json.dumps(model_py.MODEL_NAME))
    if os.path.isdir(path):
        if args.labels:
            raise UsageError('--labels is for .npy data; a folder gives its labels by class subfolder')
        return open_folder(path, spec, num_classes)
    if path.lower().endswith('.npy'):
        return open_array(path, args.labels, spec, num_classes)
    raise UsageError('data path %s is neither a folder of images nor a .npy file' % path)


def open_folder(path, spec, num_classes):
    c = spec['channels']
    if c not in PIL_MODES:
        raise UsageError('model takes %d-channel images; an image folder gives 1 (L), 3 (RGB) or 4 (RGBA): use a .npy array' % c)
    if num_classes is None:
        files = image_files(path)
        if not files:
            raise UsageError('data folder %s holds no images (%s)' % (path, ' '.join(IMAGE_EXTENSIONS)))
        return ImageFiles(files, None, spec)
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if not classes:
        if image_files(path):
            raise UsageError('model takes class labels: put the images of data folder %s in one subfolder per class' % path)
        raise UsageError('data folder %s holds no images (%s)' % (path, ' '.join(IMAGE_EXTENSIONS)))
    if len(classes) > num_classes:
        raise UsageError('data folder %s has %d class subfolders; the model takes %d classes' % (path, len(classes), num_classes))
    files, labels = [], []
    for k, d in enumerate(classes):
        fs = image_files(os.path.join(path, d))
        files.extend(fs)
        labels.extend([k] * len(fs))
    if not files:
        raise UsageError('data folder %s holds no images (%s)' % (path, ' '.join(IMAGE_EXTENSIONS)))
    return ImageFiles(files, labels, spec)


def open_array(path, labels_path, spec, num_classes):
    c, h, w = spec['channels'], spec['height'], spec['width']
    try:
        a = np.load(path, mmap_mode='r', allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UsageError('cannot read %s as a .npy array: %s' % (path, e))
    if a.ndim == 0 or a.shape[0] == 0:
        raise UsageError('data array %s is empty (shape %s)' % (path, shape_text(a.shape)))
    if a.dtype == np.uint8:
        ok = tuple(a.shape[1:]) == (h, w, c) or (c == 1 and tuple(a.shape[1:]) == (h, w))
        if not ok:
            raise UsageError('data array %s holds uint8 images %s [N, H, W, C]; the model takes [N, %d, %d, %d]'
                             % (path, shape_text(a.shape), h, w, c))
        nchw = False
    elif np.issubdtype(a.dtype, np.floating):
        if tuple(a.shape[1:]) != (c, h, w):
            raise UsageError('data array %s holds %s %s [N, C, H, W]; the model takes [N, %d, %d, %d]'
                             % (path, a.dtype, shape_text(a.shape), c, h, w))
        head = np.asarray(a[:256], dtype=np.float32)
        lo, hi = float(head.min()), float(head.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1.001 or hi > 1.001:
            raise UsageError('data array %s: values run from %g to %g; float data must lie in [-1, 1]' % (path, lo, hi))
        nchw = True
    else:
        raise UsageError('data array %s has dtype %s: use float32 [N, C, H, W] in [-1, 1] or uint8 [N, H, W, C]' % (path, a.dtype))
    labels = None
    if num_classes is not None:
        if not labels_path:
            raise UsageError('model takes class labels: pass --labels LABELS.npy (int [N]) with .npy data')
        try:
            labels = np.load(labels_path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise UsageError('cannot read labels %s: %s' % (labels_path, e))
        if labels.shape != (a.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise UsageError('labels %s: %s %s, expected integers of shape [%d]' % (labels_path, labels.dtype, shape_text(labels.shape), a.shape[0]))
        if labels.min() < 0 or labels.max() >= num_classes:
            raise UsageError('labels %s run from %d to %d; the model takes classes 0..%d' % (labels_path, labels.min(), labels.max(), num_classes - 1))
        labels = labels.astype(np.int64)
    return ArrayImages(a, labels, nchw)


class EpochBatches(torch.utils.data.Sampler):
    """This rank's batches of one epoch (DistributedSampler's order), from batch 'skip' on."""

    def __init__(self, dataset, batch_size, world, rank, seed):
        self.inner = torch.utils.data.distributed.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.batch_size = batch_size
        per_rank = len(self.inner)
        self.drop_last = per_rank >= batch_size
        self.per_epoch = per_rank // batch_size if self.drop_last else 1
        self.epoch, self.skip = 0, 0

    def set_position(self, epoch, skip):
        self.epoch, self.skip = epoch, skip
        self.inner.set_epoch(epoch)

    def __iter__(self):
        idx = list(self.inner)
        b = self.batch_size
        batches = [idx[i:i + b] for i in range(0, len(idx) - b + 1, b)] if self.drop_last else [idx]
        return iter(batches[self.skip:])

    def __len__(self):
        return self.per_epoch - self.skip


# ---------------------------------------------------------------------------------------------
# Training

def parse_args(argv):
    p = argparse.ArgumentParser(description='DDPM training for model %s (model.py). --batch-size is per process.' % json.dumps(model_py.MODEL_NAME))
    p.add_argument('--data', required=True, help='folder of images (one subfolder per class when the model takes labels) or a .npy array')
    p.add_argument('--labels', default=None, help='int64 [N] class labels beside a .npy dataset')
    p.add_argument('--out', required=True, help='output folder: model.safetensors, ema.safetensors, resume.pt, metrics.jsonl, samples')
    p.add_argument('--steps', type=int, required=True, help='train until this many optimizer steps in total')
    p.add_argument('--batch-size', type=int, default=32, help='per process (the global batch is this times the number of processes)')
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--weight-decay', type=float, default=0.0)
    p.add_argument('--warmup', type=int, default=0, help='linear learning-rate warm-up steps')
    p.add_argument('--grad-clip', type=float, default=1.0, help='max gradient norm (0: off)')
    p.add_argument('--ema', type=float, default=0.9999, help='EMA decay')
    p.add_argument('--schedule', choices=['linear', 'cosine'], default='linear')
    p.add_argument('--diffusion-steps', type=int, default=1000)
    p.add_argument('--precision', choices=['fp16', 'bf16', 'fp32'], default='fp16', help='autocast on CUDA (always fp32 on CPU)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--resume', default=None, help='resume.pt (or the --out folder holding it) of an earlier run')
    p.add_argument('--init', default=None, help='start from these weights (.safetensors), with a fresh optimizer')
    p.add_argument('--log-every', type=int, default=50)
    p.add_argument('--save-every', type=int, default=1000)
    p.add_argument('--sample-every', type=int, default=1000, help='sample grid PNG every N steps (0: off)')
    p.add_argument('--sample-n', type=int, default=16)
    p.add_argument('--sample-steps', type=int, default=100, help='respaced sampling steps for the grids')
    p.add_argument('--workers', type=int, default=2, help='DataLoader worker processes per rank')
    p.add_argument('--device', default=None, help='cuda or cpu (default: cuda when available)')
    p.add_argument('--check-ranks', action='store_true', help='at the end, check that every rank holds identical weights')
    args = p.parse_args(argv)
    for name in ('steps', 'batch_size', 'diffusion_steps', 'log_every', 'save_every', 'sample_n', 'sample_steps'):
        if getattr(args, name) < 1:
            raise UsageError('--%s must be at least 1' % name.replace('_', '-'))
    if not (0.0 <= args.ema < 1.0):
        raise UsageError('--ema must be in [0, 1)')
    return args


class Dist:
    def __init__(self, device_arg):
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        cuda = torch.cuda.is_available() if device_arg is None else device_arg.startswith('cuda')
        if cuda and not torch.cuda.is_available():
            raise UsageError('--device cuda, but CUDA is not available')
        self.device = torch.device('cuda', self.local_rank) if cuda else torch.device('cpu')
        if cuda:
            torch.cuda.set_device(self.device)
        self.on = 'RANK' in os.environ and 'MASTER_ADDR' in os.environ
        if self.on:
            torch.distributed.init_process_group(backend='nccl' if cuda else 'gloo')
            self.world, self.rank = torch.distributed.get_world_size(), torch.distributed.get_rank()

    @property
    def main(self):
        return self.rank == 0

    def sum(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.on:
            torch.distributed.all_reduce(t)
        return t.tolist()

    def gather(self, obj):
        if not self.on:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def close(self):
        if self.on:
            torch.distributed.destroy_process_group()


def autocast(device, precision):
    if device.type != 'cuda' or precision == 'fp32':
        return torch.autocast(device_type='cpu', enabled=False)
    return torch.autocast(device_type='cuda', dtype=torch.float16 if precision == 'fp16' else torch.bfloat16)


def grad_scaler(enabled):
    amp = getattr(torch, 'amp', None)
    if amp is not None and hasattr(amp, 'GradScaler'):
        return amp.GradScaler('cuda', enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def step_seed(seed, rank, step):
    """A seed per (run seed, rank, step): noise and timesteps are the same whether a run was resumed or not."""
    h = hashlib.sha256(('%d/%d/%d' % (seed, rank, step)).encode()).digest()
    return int.from_bytes(h[:8], 'little') & ((1 << 63) - 1)


RESUME_FORMAT = 'unet-studio train.py resume 1'


def write_resume(path, step, net, ema, opt, scaler, rng_cuda, args):
    """Everything to continue a run. Tensors and plain containers only (numbers as JSON text), so it
    loads with torch.load(weights_only=True), which runs no code from the file, on torch 1.13 and 2.x."""
    opt_sd = opt.state_dict()
    tensors, plain = {}, {}
    for k, st in opt_sd['state'].items():
        tensors[k] = {n: v for n, v in st.items() if torch.is_tensor(v)}
        plain[str(k)] = {n: v for n, v in st.items() if not torch.is_tensor(v)}
    info = {'step': step, 'args': args, 'param_groups': opt_sd['param_groups'], 'optimizer_plain': plain,
            'scaler': scaler.state_dict()}
    tmp = path + '.tmp'
    torch.save({'format': RESUME_FORMAT, 'json': json.dumps(info), 'model': net.state_dict(), 'ema': ema.state_dict(),
                'optimizer': tensors, 'rng_torch': torch.get_rng_state(), 'rng_cuda': rng_cuda}, tmp)
    os.replace(tmp, path)


def read_resume(path):
    if not os.path.isfile(path):
        raise UsageError('resume checkpoint %s does not exist' % path)
    try:
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except TypeError:  # a torch without weights_only
            state = torch.load(path, map_location='cpu')
    except Exception as e:  # any unreadable file: one line
        raise UsageError('cannot read resume checkpoint %s (%s)' % (path, type(e).__name__))
    if not isinstance(state, dict) or state.get('format') != RESUME_FORMAT:
        raise UsageError('%s is not a resume checkpoint of train.py' % path)
    state['json'] = json.loads(state['json'])
    return state


def optimizer_state(state):
    info = state['json']
    st = {}
    for k, tensors in state['optimizer'].items():
        st[int(k)] = dict(tensors, **info['optimizer_plain'].get(str(k), {}))
    return {'state': st, 'param_groups': info['param_groups']}


class Progress:
    def __init__(self, total, start, enabled):
        self.total, self.start, self.enabled = total, start, enabled
        self.tty = sys.stderr.isatty()
        self.t0 = time.time()

    def update(self, step, loss, force=False):
        if not self.enabled or not (self.tty or force):
            return
        done = step - self.start
        rate = done / max(time.time() - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0
        frac = step / self.total
        bar = '#' * int(frac * 30) + '.' * (30 - int(frac * 30))
        line = 'step %d/%d [%s] %3d%% loss %.4f %.2f it/s eta %dm%02ds' % (step, self.total, bar, int(frac * 100), loss, rate, eta // 60, eta % 60)
        sys.stderr.write(('\r' + line) if self.tty else (line + '\n'))
        sys.stderr.flush()

    def close(self):
        if self.enabled and self.tty:
            sys.stderr.write('\n')


def train(argv):
    args = parse_args(argv)
    spec = model_spec()
    dist = Dist(args.device)
    try:
        run(args, spec, dist)
    finally:
        dist.close()


def run(args, spec, dist):
    device = dist.device
    dataset = open_dataset(args, spec)
    torch.manual_seed(args.seed)
    net = model_py.build_model().to(device)
    ema = model_py.build_model().to(device)
    ema.load_state_dict(net.state_dict())
    ema.eval()
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    use_amp = device.type == 'cuda' and args.precision == 'fp16'
    scaler = grad_scaler(use_amp)
    step = 0
    if args.resume and args.init:
        raise UsageError('--resume and --init exclude each other')
    if args.init:
        load_weights(args.init, net)
        ema.load_state_dict(net.state_dict())
    if args.resume:
        path = os.path.join(args.resume, 'resume.pt') if os.path.isdir(args.resume) else args.resume
        state = read_resume(path)
        check_state(path, state['model'], net)
        check_state(path, state['ema'], ema)
        saved = state['json'].get('args') or {}
        for k in ('schedule', 'diffusion_steps'):
            if k in saved and saved[k] != getattr(args, k):
                raise UsageError('resume checkpoint %s was trained with --%s %s, not %s' % (path, k.replace('_', '-'), saved[k], getattr(args, k)))
        net.load_state_dict(state['model'])
        ema.load_state_dict(state['ema'])
        opt.load_state_dict(optimizer_state(state))
        if state['json'].get('scaler') and use_amp:
            scaler.load_state_dict(state['json']['scaler'])
        step = int(state['json']['step'])
        torch.set_rng_state(state['rng_torch'])
        if device.type == 'cuda' and len(state.get('rng_cuda') or []) == dist.world:
            torch.cuda.set_rng_state(state['rng_cuda'][dist.rank], device)
        if step >= args.steps and dist.main:
            print('checkpoint is at step %d; --steps %d: nothing to do' % (step, args.steps), file=sys.stderr)

    model = net
    if dist.on:
        # Blocks that do not lead to the output leave parameters without gradients: DDP must look for them.
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == 'cuda' else None,
                                                          find_unused_parameters=bool(getattr(model_py, 'UNUSED_PARAMETERS', False)))
    diffusion = Diffusion(beta_schedule(args.schedule, args.diffusion_steps))
    sampler_diffusion = Diffusion(diffusion.betas, spaced_timesteps(args.diffusion_steps, min(args.sample_steps, args.diffusion_steps)))
    batches = EpochBatches(dataset, args.batch_size, dist.world, dist.rank, args.seed)
    gen = torch.Generator(device=device)
    meta = {'model_name': model_py.MODEL_NAME, 'schedule': args.schedule, 'diffusion_steps': str(args.diffusion_steps),
            'learn_sigma': str(spec['learn_sigma']).lower(), 'format': 'pt'}

    if dist.main:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, 'train_args.json'), 'w') as f:
            json.dump(dict(vars(args), world_size=dist.world, model_name=model_py.MODEL_NAME,
                           parameter_count=int(model_py.PARAMETER_COUNT)), f, indent=1)
        print('model %s: %s parameters, input %s, output %s; %d images; %d process(es) x batch %d on %s'
              % (json.dumps(model_py.MODEL_NAME), '{:,}'.format(sum(p.numel() for p in net.parameters())),
                 shape_text(model_py.INPUT_SHAPE), shape_text(model_py.OUTPUT_SHAPE), len(dataset), dist.world,
                 args.batch_size, device), file=sys.stderr)
    metrics = None
    if dist.main:
        path = os.path.join(args.out, 'metrics.jsonl')
        if step > 0 and os.path.isfile(path):
            # Resuming: drop lines logged after the checkpoint's step (a run that went on past its last save).
            with open(path) as f:
                kept = [line for line in f if line.strip() and json.loads(line).get('step', 0) <= step]
            with open(path, 'w') as f:
                f.writelines(kept)
        metrics = open(path, 'a')

    def save(final):
        weights = safetensors_bytes(net.state_dict(), dict(meta, step=str(step)))
        rng_cuda = dist.gather(torch.cuda.get_rng_state(device)) if device.type == 'cuda' else []
        if dist.main:
            write_file(os.path.join(args.out, 'model.safetensors'), weights)
            write_file(os.path.join(args.out, 'ema.safetensors'), safetensors_bytes(ema.state_dict(), dict(meta, step=str(step), ema=str(args.ema))))
            write_resume(os.path.join(args.out, 'resume.pt'), step, net, ema, opt, scaler, rng_cuda,
                         {'schedule': args.schedule, 'diffusion_steps': args.diffusion_steps, 'seed': args.seed})
        return weights

    def sample_grid():
        if not dist.main:
            return
        labels = None if spec['num_classes'] is None else [k % spec['num_classes'] for k in range(args.sample_n)]
        imgs = sample_images(ema, spec, sampler_diffusion, args.sample_n, args.seed, device, labels)
        save_grid(imgs, os.path.join(args.out, 'samples_%06d.png' % step))

    progress = Progress(args.steps, step, dist.main)
    t_start = time.time()
    t_log, n_log, loss_sum, mse_sum, vb_sum = time.time(), 0, 0.0, 0.0, 0.0
    per_epoch = batches.per_epoch
    while step < args.steps:
        batches.set_position(step // per_epoch, step % per_epoch)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=args.workers,
                                             pin_memory=device.type == 'cuda', persistent_workers=False)
        for x0, y in loader:
            if step >= args.steps:
                break
            x0 = x0.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True) if spec['num_classes'] is not None else None
            gen.manual_seed(step_seed(args.seed, dist.rank, step))
            t = torch.randint(0, diffusion.num_timesteps, (x0.shape[0],), generator=gen, device=device)
            noise = torch.randn(x0.shape, generator=gen, device=device)
            xt = diffusion.q_sample(x0, t, noise)
            lr = args.lr * min(1.0, (step + 1) / args.warmup) if args.warmup > 0 else args.lr
            for g in opt.param_groups:
                g['lr'] = lr
            with autocast(device, args.precision):
                out = run_model(model, spec, xt, t, y)
            terms = diffusion.training_losses(out, x0, xt, t, noise, spec['learn_sigma'])
            loss = terms['loss'].mean()
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if args.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.grad_clip)
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                d = args.ema
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.mul_(d).add_(p.detach().float().to(pe.dtype), alpha=1 - d)
                for be, b in zip(ema.buffers(), net.buffers()):
                    be.copy_(b)
            step += 1
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                raise UsageError('loss is %s at step %d: lower --lr or check the data' % (loss_v, step))
            loss_sum += loss_v
            mse_sum += float(terms['mse'].mean().detach())
            vb_sum += float(terms['vb'].mean().detach()) if 'vb' in terms else 0.0
            n_log += 1
            progress.update(step, loss_v)
            if step % args.log_every == 0 or step == args.steps:
                tot = dist.sum([loss_sum, mse_sum, vb_sum, n_log])
                now = time.time()
                if dist.main:
                    rec = {'step': step, 'loss': tot[0] / tot[3], 'lr': lr, 'seconds': round(now - t_start, 3),
                           'images_per_second': round(n_log * args.batch_size * dist.world / max(now - t_log, 1e-9), 2)}
                    if spec['learn_sigma']:
                        rec['mse'], rec['vb'] = tot[1] / tot[3], tot[2] / tot[3]
                    metrics.write(json.dumps(rec) + '\n')
                    metrics.flush()
                    progress.update(step, rec['loss'], force=True)
                t_log, n_log, loss_sum, mse_sum, vb_sum = now, 0, 0.0, 0.0, 0.0
            if args.sample_every and step % args.sample_every == 0:
                sample_grid()
            if step % args.save_every == 0 and step < args.steps:
                save(False)
    progress.close()
    weights = save(True)
    if metrics is not None:
        metrics.close()
    if args.check_ranks:
        digest = hashlib.sha256(weights).hexdigest()
        digests = dist.gather(digest)
        if dist.main:
            with open(os.path.join(args.out, 'rank_check.json'), 'w') as f:
                json.dump({'step': step, 'sha256': digests}, f)
            if len(set(digests)) != 1:
                raise UsageError('ranks hold different weights at step %d: %s' % (step, ', '.join(digests)))
            print('ranks agree: %d process(es), weights sha256 %s' % (len(digests), digest), file=sys.stderr)
    if dist.main:
        print('done: step %d, weights in %s' % (step, args.out), file=sys.stderr)


def main(argv=None):
    try:
        train(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        if int(os.environ.get('RANK', '0')) == 0:
            print('train.py: error: ' + fail_line(e), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == '__main__':
    main()
`;

/** sample.py after its first line. */
export const SAMPLE_PY_BODY = String.raw`"""DDPM ancestral sampling from a train.py checkpoint (.safetensors) into a PNG grid.

    python sample.py --checkpoint runs/ema.safetensors --out samples.png --n 16 --steps 250 --seed 0

The schedule (and the number of diffusion steps it was trained with) comes from the checkpoint's
metadata; --steps respaces it. Learned variance is used when the model outputs it.
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as model_py  # noqa: E402  (model.py beside this file)
import train  # noqa: E402  (train.py beside this file: diffusion, .safetensors, PNG grid)


def parse_args(argv):
    p = argparse.ArgumentParser(description='DDPM sampling for model %s (model.py)' % train.json.dumps(model_py.MODEL_NAME))
    p.add_argument('--checkpoint', required=True, help='ema.safetensors or model.safetensors written by train.py')
    p.add_argument('--out', required=True, help='PNG file for the grid')
    p.add_argument('--n', type=int, default=16, help='number of images')
    p.add_argument('--steps', type=int, default=250, help='sampling steps (the training schedule respaced)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--class', dest='class_label', type=int, default=None, help='class of every image (default: 0, 1, 2, ... in turn)')
    p.add_argument('--schedule', choices=['linear', 'cosine'], default=None, help='override the checkpoint metadata')
    p.add_argument('--diffusion-steps', type=int, default=None, help='override the checkpoint metadata')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--device', default=None, help='cuda or cpu (default: cuda when available)')
    args = p.parse_args(argv)
    for name in ('n', 'steps', 'batch_size'):
        if getattr(args, name) < 1:
            raise train.UsageError('--%s must be at least 1' % name.replace('_', '-'))
    return args


def sample(argv):
    args = parse_args(argv)
    spec = train.model_spec()
    if args.device is not None and args.device.startswith('cuda') and not torch.cuda.is_available():
        raise train.UsageError('--device cuda, but CUDA is not available')
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if not os.path.isfile(args.checkpoint):
        raise train.UsageError('checkpoint %s does not exist' % args.checkpoint)
    net = model_py.build_model().to(device)
    meta = train.load_weights(args.checkpoint, net)
    net.eval()
    schedule = args.schedule or meta.get('schedule', 'linear')
    total = args.diffusion_steps or int(meta.get('diffusion_steps', '1000'))
    diffusion = train.Diffusion(train.beta_schedule(schedule, total), train.spaced_timesteps(total, min(args.steps, total)))
    labels = None
    if spec['num_classes'] is not None:
        k = spec['num_classes']
        if args.class_label is not None and not (0 <= args.class_label < k):
            raise train.UsageError('--class %d: the model takes classes 0..%d' % (args.class_label, k - 1))
        labels = [args.class_label if args.class_label is not None else i % k for i in range(args.n)]
    elif args.class_label is not None:
        raise train.UsageError('--class given, but model %s takes no class labels' % train.json.dumps(model_py.MODEL_NAME))
    chunks = []
    for start in range(0, args.n, args.batch_size):
        n = min(args.batch_size, args.n - start)

        def progress(done, total, start=start):
            if not sys.stderr.isatty() and done < total:
                return
            sys.stderr.write('\rimages %d-%d: step %d/%d' % (start + 1, start + n, done, total))
            sys.stderr.flush()
        chunks.append(train.sample_images(net, spec, diffusion, n, args.seed + start, device,
                                          None if labels is None else labels[start:start + n], progress).cpu())
    sys.stderr.write('\n')
    images = torch.cat(chunks)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    train.save_grid(images, args.out)
    cols = int(math.ceil(math.sqrt(args.n)))
    print('wrote %s: %d images (%d x %d grid), %s schedule, %d of %d steps' % (args.out, args.n, cols, int(math.ceil(args.n / cols)), schedule, diffusion.num_timesteps, total), file=sys.stderr)


def main(argv=None):
    try:
        sample(sys.argv[1:] if argv is None else argv)
    except train.UsageError as e:
        print('sample.py: error: ' + train.fail_line(e), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == '__main__':
    main()
`;
