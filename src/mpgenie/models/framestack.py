"""A frame-stack encoder shared by the inverse dynamics model and the behavioural-cloning policy (PyTorch, extra
``learn``): a short window of frames and the differences of neighbouring frames, stacked along the channels
("early fusion"), through a few strided convolutions to one feature vector.

Why early fusion: the actions of this world are small, mostly global image motions (a turn shifts the whole view
by about 9 degrees, a step forward scales it slightly, a jump lifts the horizon), which a first convolution sees
best in the pixel differences at full resolution. The differences are computed before the first stride, so none
of that motion is lost to downsampling; the first layer then strides by 4 at once (a patch embedding), which keeps
a CPU step cheap: a 2-core machine trains the IDM in minutes.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FrameStackEncoder(nn.Module):
    """(B, W, 3, H, W') frames in [-1, 1] -> (B, features). ``frames`` is the window length W."""

    def __init__(self, frames: int, resolution: int, channels: int = 32, features: int = 256) -> None:
        super().__init__()
        c_in = 3 * frames + 3 * (frames - 1)
        c = channels
        # A 4x4 patch embedding (stride 4) first: the cheapest layer that still sees every difference pixel; then
        # stride-2 steps down to 4x4.
        layers: list[nn.Module] = [nn.Conv2d(c_in, c, 4, stride=4), nn.GroupNorm(math.gcd(8, c), c), nn.GELU()]
        size, c_prev = resolution // 4, c
        for c_out in (2 * c, 4 * c):
            if size <= 4:
                break
            layers += [
                nn.Conv2d(c_prev, c_out, 4, stride=2, padding=1),
                nn.GroupNorm(math.gcd(8, c_out), c_out),
                nn.GELU(),
            ]
            size, c_prev = size // 2, c_out
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_prev * size * size, features), nn.GELU())
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diffs = x[:, 1:] - x[:, :-1]
        return self.head(self.conv(torch.cat([x.flatten(1, 2), diffs.flatten(1, 2)], dim=1)))
