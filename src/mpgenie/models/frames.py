"""Frames between the world and the models (PyTorch, extra ``learn``): uint8 (..., H, W, 3) as the renderer, the
dataset and the stream hold them, float (..., 3, H, W) in [-1, 1] as the networks take and make them.

One place for the conversion, because the trainer, the evaluation, the metrics and the learned backend must agree
on it exactly: a model served with a scale or rounding other than the one it was trained with sees other pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray


def to_tensor(frames: NDArray[np.uint8]) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1]."""
    return (torch.from_numpy(np.asarray(frames)).float() / 127.5 - 1.0).movedim(-1, -3)


def to_255(x: torch.Tensor) -> torch.Tensor:
    """Float frames in about [-1, 1] (clamped to it) -> the same on the 8-bit scale [0, 255], still float."""
    return (x.clamp(-1, 1) + 1) * 127.5


def to_frames(x: torch.Tensor) -> NDArray[np.uint8]:
    """Float (..., 3, H, W) in about [-1, 1] -> uint8 (..., H, W, 3), clamped and rounded to the nearest level (so
    :func:`to_tensor` and back returns the very same pixels)."""
    return to_255(x.detach()).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()
