"""The Frame Consistency Manager: a bounded per-player frame history that world models condition on, reset when
continuity breaks — a teleport or respawn (the server moved the player), or a view change beyond a threshold in
one tick (a cut, as far as a model is concerned). Feeding frames across such a break would ask the model to
continue a scene that is no longer there."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpgenie.world.spatial import chord_unit


@dataclass
class _Track:
    frames: deque[NDArray[np.uint8]]
    position: NDArray[np.float64]
    heading: NDArray[np.float64]
    resets: int = 0


class FrameConsistencyManager:
    def __init__(
        self, capacity: int = 16, view_change_deg: float = 60.0, jump_m: float = 5.0, radius_m: float = 100.0
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.cos_view = math.cos(math.radians(view_change_deg))
        self.jump_chord = chord_unit(jump_m, radius_m)
        self._tracks: dict[int, _Track] = {}

    def observe(
        self,
        player: int,
        frame: NDArray[np.uint8],
        position: NDArray[np.float64],
        heading: NDArray[np.float64],
        teleported: bool = False,
        respawned: bool = False,
    ) -> bool:
        """Add this tick's frame; returns True when the history was reset first (a continuity break)."""
        track = self._tracks.get(player)
        p = np.asarray(position, dtype=np.float64)
        h = np.asarray(heading, dtype=np.float64)
        reset = False
        if track is None:
            track = _Track(deque(maxlen=self.capacity), p, h)
            self._tracks[player] = track
        else:
            jumped = float(np.linalg.norm(p - track.position)) > self.jump_chord
            turned = float(np.dot(h, track.heading)) < self.cos_view
            if teleported or respawned or jumped or turned:
                track.frames.clear()
                track.resets += 1
                reset = True
        track.frames.append(frame)
        track.position, track.heading = p, h
        return reset

    def history(self, player: int) -> list[NDArray[np.uint8]]:
        """The frames since the last break (oldest first), at most ``capacity``."""
        track = self._tracks.get(player)
        return list(track.frames) if track is not None else []

    def resets(self, player: int) -> int:
        track = self._tracks.get(player)
        return track.resets if track is not None else 0

    def forget(self, player: int) -> None:
        self._tracks.pop(player, None)
