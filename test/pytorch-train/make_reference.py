"""Makes improved-diffusion-reference.json: improved-diffusion's own GaussianDiffusion on fixed inputs. Needs a
checkout of github.com/openai/improved-diffusion; set IMPROVED_DIFFUSION_CHECKOUT in the environment to its path. Not run by the tests."""
import json
import os
import sys

import torch
sys.path.insert(0, os.environ.get('IMPROVED_DIFFUSION_CHECKOUT', '.'))
from improved_diffusion import gaussian_diffusion as gd
from improved_diffusion.respace import SpacedDiffusion, space_timesteps
def inputs():
    g = torch.Generator().manual_seed(1234)
    x0 = torch.rand((4, 3, 4, 4), generator=g) * 2 - 1
    noise = torch.randn((4, 3, 4, 4), generator=g)
    out = torch.randn((4, 6, 4, 4), generator=g)
    v = torch.rand((4, 3, 4, 4), generator=g) * 2 - 1
    return x0, noise, torch.cat([out[:, :3], v], 1), out[:, :3]
x0, noise, out6, out3 = inputs()
t = torch.tensor([0, 1, 17, 49])
res = {}
for sched in ('linear', 'cosine'):
    betas = gd.get_named_beta_schedule(sched, 50)
    d = gd.GaussianDiffusion(betas=betas, model_mean_type=gd.ModelMeanType.EPSILON, model_var_type=gd.ModelVarType.LEARNED_RANGE, loss_type=gd.LossType.RESCALED_MSE)
    terms = d.training_losses(lambda x, tt, **kw: out6, x0, t, noise=noise)
    res[sched] = {'betas_0_1_49': [float(betas[0]), float(betas[1]), float(betas[49])], 'loss': terms['loss'].tolist(), 'mse': terms['mse'].tolist(), 'vb': terms['vb'].tolist()}
    # respaced ancestral step, learned and fixed-large
    sd = SpacedDiffusion(use_timesteps=space_timesteps(50, [7]), betas=betas, model_mean_type=gd.ModelMeanType.EPSILON, model_var_type=gd.ModelVarType.LEARNED_RANGE, loss_type=gd.LossType.RESCALED_MSE)
    xt = x0 * 0.5 + noise * 0.5
    for var, o in (('learned', out6), ('fixed_large', out3)):
        sd.model_var_type = gd.ModelVarType.LEARNED_RANGE if var == 'learned' else gd.ModelVarType.FIXED_LARGE
        for i in (6, 3, 0):
            tt = torch.full((4,), i, dtype=torch.long)
            torch.manual_seed(99)
            seen = []
            def model(x, ts, **kw):
                seen.append(ts.tolist()); return o
            pm = sd.p_mean_variance(model, xt, tt, clip_denoised=True)
            res[sched]['%s_step%d' % (var, i)] = {'timestep': seen[0][0], 'mean_sum': float(pm['mean'].double().sum()), 'mean_00': float(pm['mean'][0,0,0,0]), 'logvar_sum': float(pm['log_variance'].double().sum())}
print(json.dumps(res))
