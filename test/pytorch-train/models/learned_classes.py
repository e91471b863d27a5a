"""Stand-in for a generated model.py (test harness, not generated): a tiny conv net with a timestep
embedding, following the model.py contract that train.py and sample.py read."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn

MODEL_NAME: str = 'tiny learned-sigma class-conditional net'
INPUT_SHAPE: Tuple[int, int, int] = (3, 8, 8)
OUTPUT_SHAPE: Tuple[int, int, int] = (6, 8, 8)
NUM_CLASSES: Optional[int] = 3
INPUT_NAMES: Tuple[str, ...] = ('x', 'timesteps', 'y')


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TinyNet(nn.Module):
    def __init__(self, channels: int, out_channels: int, num_classes: Optional[int]) -> None:
        super().__init__()
        self.time_embed = nn.Sequential(nn.Linear(16, 32), nn.SiLU(), nn.Linear(32, 32))
        self.label_emb = nn.Embedding(num_classes, 32) if num_classes is not None else None
        self.conv_in = nn.Conv2d(channels, 16, 3, padding=1)
        self.emb_proj = nn.Linear(32, 16)
        self.norm = nn.GroupNorm(4, 16)
        self.conv_mid = nn.Conv2d(16, 16, 3, padding=1)
        self.conv_out = nn.Conv2d(16, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(timesteps, 16))
        if self.label_emb is not None:
            assert y is not None
            emb = emb + self.label_emb(y)
        h = self.conv_in(x) + self.emb_proj(emb)[:, :, None, None]
        h = self.conv_mid(torch.nn.functional.silu(self.norm(h)))
        return self.conv_out(torch.nn.functional.silu(h))


def build_model() -> nn.Module:
    return TinyNet(INPUT_SHAPE[0], OUTPUT_SHAPE[0], NUM_CLASSES)


PARAMETER_COUNT: int = sum(p.numel() for p in build_model().parameters())

if __name__ == '__main__':
    print(MODEL_NAME, PARAMETER_COUNT, INPUT_SHAPE, OUTPUT_SHAPE)
