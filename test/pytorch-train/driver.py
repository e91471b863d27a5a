"""Runs train.py and sample.py of one exported project in this one process (each through its own
main(argv), as the command line would) and prints what the test asserts as JSON. Usage:
    driver.py PROJECT_DIR plain|learned [OTHER_PROJECT_DIR]
The project folder holds model.py, train.py and sample.py; the data is made here, deterministically."""
import contextlib
import hashlib
import io
import json
import os
import sys

root, variant = sys.argv[1], sys.argv[2]
other = sys.argv[3] if len(sys.argv) > 3 else None
os.chdir(root)
sys.path.insert(0, root)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import model  # noqa: E402
import train  # noqa: E402
import sample  # noqa: E402

out = {'state_dict': [[k, list(v.shape)] for k, v in model.build_model().state_dict().items()],
       'unused_parameters': model.UNUSED_PARAMETERS,
       'parameter_count': [model.PARAMETER_COUNT, sum(p.numel() for p in model.build_model().parameters())]}


def call(mod, argv):
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            mod.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return {'code': code, 'stderr': err.getvalue()}


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


rng = np.random.default_rng(0)
common = ['--batch-size', '4', '--log-every', '1', '--workers', '0', '--diffusion-steps', '50']
if variant == 'plain':
    np.save('data.npy', rng.uniform(-1, 1, (24, 1, 8, 8)).astype(np.float32))
    np.save('wrong_c.npy', rng.uniform(-1, 1, (4, 3, 8, 8)).astype(np.float32))
    np.save('too_big.npy', rng.uniform(-3, 3, (4, 1, 8, 8)).astype(np.float32))
    os.makedirs('empty', exist_ok=True)
    base = common + ['--data', 'data.npy', '--sample-every', '0']
    out['straight'] = call(train, base + ['--out', 'straight', '--steps', '20'])
    out['first'] = call(train, base + ['--out', 'resumed', '--steps', '10'])
    out['first_sha'] = sha('resumed/model.safetensors')
    # A line logged after the checkpoint (as by a run that died past its last save): resuming drops it.
    with open('resumed/metrics.jsonl', 'a') as f:
        f.write(json.dumps({'step': 15, 'loss': -1.0}) + '\n')
    out['resumed'] = call(train, base + ['--out', 'resumed', '--steps', '20', '--resume', 'resumed'])
    for d in ('straight', 'resumed'):
        out[d + '_files'] = {f: sha(os.path.join(d, f)) for f in ('model.safetensors', 'ema.safetensors')}
        out[d + '_metrics'] = metrics(os.path.join(d, 'metrics.jsonl'))
    out['sample'] = call(sample, ['--checkpoint', 'straight/ema.safetensors', '--out', 'grid.png', '--n', '10', '--steps', '5'])
    out['bad'] = {
        'missing': call(train, common + ['--data', 'no/such/dir', '--out', 'bad', '--steps', '2']),
        'empty': call(train, common + ['--data', 'empty', '--out', 'bad', '--steps', '2']),
        'wrong_c': call(train, common + ['--data', 'wrong_c.npy', '--out', 'bad', '--steps', '2']),
        'range': call(train, common + ['--data', 'too_big.npy', '--out', 'bad', '--steps', '2']),
    }
else:
    from PIL import Image
    np.save('images.npy', rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8))
    np.save('labels.npy', (np.arange(12) % 3).astype(np.int64))
    np.save('wrong_hw.npy', rng.integers(0, 256, (4, 9, 8, 3), dtype=np.uint8))
    for k in range(3):
        os.makedirs('folder/class%d' % k, exist_ok=True)
        for i in range(2):  # odd sizes and a greyscale image: resized, cropped and converted to RGB
            a = rng.integers(0, 256, (10 + k, 13, 3) if i == 0 else (9, 9), dtype=np.uint8)
            Image.fromarray(a).save('folder/class%d/%d.png' % (k, i))
    os.makedirs('flat', exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save('flat/a.png')
    out['folder'] = call(train, common + ['--data', 'folder', '--out', 'fromfolder', '--steps', '6', '--sample-every', '3',
                                         '--sample-n', '5', '--sample-steps', '4', '--schedule', 'cosine'])
    out['folder_metrics'] = metrics('fromfolder/metrics.jsonl')
    out['folder_grids'] = sorted(f for f in os.listdir('fromfolder') if f.endswith('.png'))
    out['npy'] = call(train, common + ['--data', 'images.npy', '--labels', 'labels.npy', '--out', 'fromnpy', '--steps', '4',
                                      '--sample-every', '0'])
    out['npy_metrics'] = metrics('fromnpy/metrics.jsonl')
    out['sample'] = call(sample, ['--checkpoint', 'fromnpy/ema.safetensors', '--out', 'grid.png', '--n', '7', '--steps', '3', '--class', '2'])
    out['bad'] = {
        'no_labels': call(train, common + ['--data', 'images.npy', '--out', 'bad', '--steps', '2']),
        'wrong_hw': call(train, common + ['--data', 'wrong_hw.npy', '--labels', 'labels.npy', '--out', 'bad', '--steps', '2']),
        'flat_folder': call(train, common + ['--data', 'flat', '--out', 'bad', '--steps', '2']),
        'resume_other': call(train, common + ['--data', 'images.npy', '--labels', 'labels.npy', '--out', 'bad', '--steps', '2',
                                              '--resume', os.path.join(other, 'straight')]),
        'sample_other': call(sample, ['--checkpoint', os.path.join(other, 'straight', 'ema.safetensors'), '--out', 'x.png']),
        'class_range': call(sample, ['--checkpoint', 'fromnpy/ema.safetensors', '--out', 'x.png', '--class', '3']),
    }
    # The diffusion maths on fixed inputs, for the numbers improved-diffusion gives (the test holds them).
    g = torch.Generator().manual_seed(1234)
    x0 = torch.rand((4, 3, 4, 4), generator=g) * 2 - 1
    noise = torch.randn((4, 3, 4, 4), generator=g)
    eps = torch.randn((4, 6, 4, 4), generator=g)[:, :3]
    v = torch.rand((4, 3, 4, 4), generator=g) * 2 - 1
    out6 = torch.cat([eps, v], 1)
    t = torch.tensor([0, 1, 17, 49])
    maths = {}
    for sched in ('linear', 'cosine'):
        betas = train.beta_schedule(sched, 50)
        d = train.Diffusion(betas)
        xt = d.q_sample(x0, t, noise)
        terms = d.training_losses(out6, x0, xt, t, noise, True)
        m = {'betas_0_1_49': [float(betas[0]), float(betas[1]), float(betas[49])],
             'loss': terms['loss'].tolist(), 'mse': terms['mse'].tolist(), 'vb': terms['vb'].tolist()}
        sd = train.Diffusion(betas, train.spaced_timesteps(50, 7))
        xs = x0 * 0.5 + noise * 0.5
        for name, o in (('learned', out6), ('fixed_large', eps)):
            for i in (6, 3, 0):
                mean, log_var = sd.p_mean_log_variance(o, xs, i)
                m['%s_step%d' % (name, i)] = {'timestep': sd.timestep_map[i], 'mean_sum': float(mean.double().sum()),
                                              'mean_00': float(mean[0, 0, 0, 0]), 'logvar_sum': float(log_var.double().sum())}
        maths[sched] = m
    # Gradients of the hybrid loss: the vlb term must not reach the eps half (stop-gradient on the mean).
    o = out6.clone().requires_grad_(True)
    d = train.Diffusion(train.beta_schedule('linear', 50))
    xt = d.q_sample(x0, t, noise)
    terms = d.training_losses(o, x0, xt, t, noise, True)
    terms['vb'].sum().backward()
    maths['vb_grad_abs_sum'] = {'eps': float(o.grad[:, :3].abs().sum()), 'v': float(o.grad[:, 3:].abs().sum())}
    out['maths'] = maths

print(json.dumps(out))
