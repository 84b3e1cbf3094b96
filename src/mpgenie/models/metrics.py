"""Image quality of predicted frames: PSNR and SSIM on 8-bit scale, for frames in [-1, 1] as the models make them;
and how well the latent action model's codes name the true actions (purity, mutual information).

SSIM is Wang et al. (2004) as most papers report it: an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 * 255)^2,
C2 = (0.03 * 255)^2, computed per colour channel over the valid region (no padding) and averaged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from mpgenie.models.frames import to_255

_WINDOW, _SIGMA = 11, 1.5
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def psnr(pred: torch.Tensor, true: torch.Tensor) -> float:
    """PSNR in dB of the pooled mean squared error over the whole batch (B, 3, H, W)."""
    mse = float(F.mse_loss(to_255(pred), to_255(true)))
    return 10.0 * math.log10(255.0**2 / max(mse, 1e-10))


def gaussian_window(size: int = _WINDOW, sigma: float = _SIGMA) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Mean SSIM over the batch (B, 3, H, W); frames must be at least 11 pixels on a side."""
    x, y = to_255(pred).double(), to_255(true).double()
    channels = x.shape[1]
    w = gaussian_window().to(x)[None, None].repeat(channels, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=channels)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + _C1) * (2 * cxy + _C2)) / ((mx**2 + my**2 + _C1) * (vx + vy + _C2))
    return float(s.mean())


def code_purity(codes: NDArray[np.integer], actions: NDArray[np.integer]) -> float:
    """How well discrete codes name true actions: each code is read as the action it most often co-occurs with,
    and purity is the share of pairs that reading gets right (1: every code stands for one action; a single
    code for everything scores the share of the most common action)."""
    codes, actions = np.asarray(codes).ravel(), np.asarray(actions).ravel()
    if codes.size == 0:
        return float("nan")
    table = _joint_counts(codes, actions)
    return float(table.max(axis=1).sum() / codes.size)


def mutual_information(codes: NDArray[np.integer], actions: NDArray[np.integer]) -> tuple[float, float]:
    """I(code; action) in bits of the empirical joint distribution, and that divided by H(action) (the share of
    the actions' uncertainty the codes remove: 1 when the codes determine the action)."""
    table = _joint_counts(np.asarray(codes).ravel(), np.asarray(actions).ravel()).astype(np.float64)
    if table.sum() == 0:
        return float("nan"), float("nan")
    p = table / table.sum()
    pc, pa = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float(np.sum(p[nz] * np.log2(p[nz] / (pc @ pa)[nz])))
    pa1 = pa[pa > 0]
    h = float(-np.sum(pa1 * np.log2(pa1)))
    return mi, mi / h if h > 0 else float("nan")


def _joint_counts(codes: NDArray[np.integer], actions: NDArray[np.integer]) -> NDArray[np.int64]:
    c, a = codes.astype(np.int64), actions.astype(np.int64)
    table = np.zeros((int(c.max()) + 1 if c.size else 1, int(a.max()) + 1 if a.size else 1), dtype=np.int64)
    np.add.at(table, (c, a), 1)
    return table
