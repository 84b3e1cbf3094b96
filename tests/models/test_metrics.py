"""PSNR and SSIM of predicted frames against direct, loop-by-loop computations of their definitions."""

import math

import numpy as np
import pytest
import torch

from mpgenie.models.metrics import gaussian_window, psnr, ssim


def ssim_by_loops(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 on 8-bit images (C, H, W): Gaussian-weighted statistics at every valid window position."""
    w = gaussian_window().numpy()
    k = w.shape[0]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for ch in range(a.shape[0]):
        for i in range(a.shape[1] - k + 1):
            for j in range(a.shape[2] - k + 1):
                x, y = a[ch, i : i + k, j : j + k], b[ch, i : i + k, j : j + k]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cxy = (w * (x - mx) * (y - my)).sum()
                values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 16, 14)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    as_model = [torch.from_numpy(v / 127.5 - 1)[None] for v in (a, b)]
    assert ssim(*as_model) == pytest.approx(ssim_by_loops(a, b), abs=1e-9)


def test_ssim_is_one_for_equal_frames_and_falls_with_noise() -> None:
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert ssim(x, x) == pytest.approx(1.0)
    small, large = ((x + torch.randn_like(x) * s).clamp(-1, 1) for s in (0.05, 0.3))
    assert 1.0 > ssim(small, x) > ssim(large, x)


def test_psnr_of_a_known_error() -> None:
    x = torch.zeros(1, 3, 8, 8)
    y = x + 10 / 127.5  # every pixel off by 10 levels
    assert psnr(y, x) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-4)
