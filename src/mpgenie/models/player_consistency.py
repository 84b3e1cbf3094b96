"""Multiplayer consistency of predicted frames, scored from the simulator's ground truth (NumPy only).

A world model serving many players must draw each of them where the others' views say they are. The simulator
knows exactly where that is: a view rendered in full and the same view rendered with every player left out differ
precisely in the pixels that show another player (``mpgenie.dataset.replay.views_with_and_without_players``).
Against those two renders:

- **drawn**: of the frames in which another player covers at least ``MIN_PIXELS`` pixels, the share whose
  prediction, inside those pixels, is nearer the full render than the player-less one (per pixel, majority) — the
  player is drawn there rather than the background behind it;
- **psnr**: PSNR inside those pixels, pooled over frames (how well the player is drawn, not only whether);
- **ghost**: of the frames in which pixels that showed a player in the last frame the model saw no longer do, the
  share whose prediction there is nearer that last frame than the truth — the player left behind where it was.

Repeating the last frame (the copy baseline every other metric has) draws a still player and ghosts a moving one,
so a model must beat it on both to be said to track the other players.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

MIN_PIXELS = 4  # fewer, and one pixel's codec noise decides the vote


def player_masks(full: NDArray[np.uint8], empty: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """(N, H, W): where the full render differs from the render without players."""
    return np.any(full != empty, axis=-1)


def _nearer(x: NDArray[np.uint8], a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Per pixel: is ``x`` nearer ``a`` than ``b`` (L1 over the channels)?"""
    xi, ai, bi = (v.astype(np.int32) for v in (x, a, b))
    return np.abs(xi - ai).sum(-1) < np.abs(xi - bi).sum(-1)


def _psnr(err2: float, count: int) -> float | None:
    if count == 0:
        return None
    mse = err2 / count
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def player_consistency(
    pred: NDArray[np.uint8],
    full: NDArray[np.uint8],
    empty: NDArray[np.uint8],
    seen_last: NDArray[np.uint8],
    mask_last: NDArray[np.bool_],
) -> dict[str, Any]:
    """Score predictions ``pred`` (N, H, W, 3) against the full and player-less renders of the same frames; the last
    frame the model saw (``seen_last``) and where it showed players (``mask_last``) give the ghosting test."""
    mask = player_masks(full, empty)
    visible = mask.sum(axis=(1, 2)) >= MIN_PIXELS
    drawn = _nearer(pred, full, empty)
    votes = [bool(drawn[i][mask[i]].mean() > 0.5) for i in np.flatnonzero(visible)]
    err = (pred.astype(np.float64) - full.astype(np.float64)) ** 2
    left = mask_last & ~mask
    moved = left.sum(axis=(1, 2)) >= MIN_PIXELS
    behind = _nearer(pred, seen_last, full)
    ghosts = [bool(behind[i][left[i]].mean() > 0.5) for i in np.flatnonzero(moved)]
    return {
        "frames_with_players": len(votes),
        "drawn": float(np.mean(votes)) if votes else None,
        "psnr": _psnr(float(err[mask].sum()), int(mask.sum()) * 3),
        "frames_players_left": len(ghosts),
        "ghost": float(np.mean(ghosts)) if ghosts else None,
    }
