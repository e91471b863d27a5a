"""A stand-in for the `einops` package, which Debian bookworm lacks (no Python registry here).

ldm/modules/attention.py and the ldm utilities it imports need `rearrange` and `repeat` at import
time; the code paths make_blocks.py runs (SpatialTransformer without a mask) call `rearrange` with
exactly the patterns below. Each is a plain reshape/permute written out by hand; any other pattern
raises, so nothing runs through this module silently untested. Not part of the app.
"""


def _bnhd_to_bhnd(t, h):  # 'b n (h d) -> (b h) n d'
    b, n, hd = t.shape
    return t.reshape(b, n, h, hd // h).permute(0, 2, 1, 3).reshape(b * h, n, hd // h)


def _bhnd_to_bnhd(t, h):  # '(b h) n d -> b n (h d)'
    bh, n, d = t.shape
    return t.reshape(bh // h, h, n, d).permute(0, 2, 1, 3).reshape(bh // h, n, h * d)


def rearrange(t, pattern, **axes):
    p = " ".join(pattern.split())
    if p == "b n (h d) -> (b h) n d":
        return _bnhd_to_bhnd(t, axes["h"])
    if p == "(b h) n d -> b n (h d)":
        return _bhnd_to_bnhd(t, axes["h"])
    if p == "b c h w -> b (h w) c":
        b, c, h, w = t.shape
        return t.permute(0, 2, 3, 1).reshape(b, h * w, c)
    if p == "b (h w) c -> b c h w":
        b, hw, c = t.shape
        return t.reshape(b, axes["h"], axes["w"], c).permute(0, 3, 1, 2)
    raise NotImplementedError(f"einops stand-in: rearrange pattern {pattern!r} is not implemented")


def repeat(t, pattern, **axes):
    raise NotImplementedError(f"einops stand-in: repeat pattern {pattern!r} is not implemented")
