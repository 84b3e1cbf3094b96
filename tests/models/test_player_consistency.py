"""The multiplayer consistency score against hand-made frames: a background, a player drawn as a block."""

from __future__ import annotations

import numpy as np

from mpgenie.models.player_consistency import MIN_PIXELS, player_consistency, player_masks

BACKGROUND = (40, 90, 160)
PLAYER = (230, 60, 20)


def frame_with(*blocks: tuple[int, int]) -> np.ndarray:
    """A 16x16 background with a 3x3 player block at each (row, col)."""
    f = np.empty((16, 16, 3), np.uint8)
    f[:] = BACKGROUND
    for r, c in blocks:
        f[r : r + 3, c : c + 3] = PLAYER
    return f


def score(pred: list[np.ndarray], full: list[np.ndarray], last: list[np.ndarray]) -> dict:
    empty = np.stack([frame_with()] * len(full))
    full_a, last_a = np.stack(full), np.stack(last)
    return player_consistency(np.stack(pred), full_a, empty, last_a, player_masks(last_a, empty))


def test_a_player_drawn_where_it_is_scores_drawn_and_exact() -> None:
    truth = [frame_with((2, 2)), frame_with((8, 8))]
    s = score(truth, truth, truth)
    assert s["frames_with_players"] == 2 and s["drawn"] == 1.0 and s["psnr"] == float("inf")
    assert s["frames_players_left"] == 0 and s["ghost"] is None


def test_a_missing_player_is_not_drawn_and_costs_psnr() -> None:
    truth = [frame_with((2, 2)), frame_with((8, 8))]
    s = score([frame_with((2, 2)), frame_with()], truth, truth)
    assert s["drawn"] == 0.5
    # one of two 9-pixel blocks wrong by the player/background difference: a finite, low PSNR
    assert s["psnr"] is not None and 5.0 < s["psnr"] < 20.0


def test_copying_the_last_frame_ghosts_a_player_that_moved() -> None:
    last = [frame_with((2, 2))]
    now = [frame_with((2, 10))]
    copy = score(last, now, last)
    assert copy["frames_players_left"] == 1 and copy["ghost"] == 1.0 and copy["drawn"] == 0.0
    moved = score(now, now, last)
    assert moved["ghost"] == 0.0 and moved["drawn"] == 1.0


def test_tiny_players_are_not_voted_on() -> None:
    f = frame_with()
    f[0, 0] = PLAYER  # one pixel, below MIN_PIXELS
    assert MIN_PIXELS > 1
    s = score([frame_with()], [f], [frame_with()])
    assert s["frames_with_players"] == 0 and s["drawn"] is None and s["psnr"] is not None
