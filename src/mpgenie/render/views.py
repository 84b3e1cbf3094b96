"""View management: spend rendering where it matters. Each agent's view gets an importance score every tick and,
from it, a detail tier:

- tier 0, full: rendered at full resolution this tick;
- tier 1, reduced: rendered at half resolution and scaled up (a quarter of the rays);
- tier 2, held: not rendered; the view's previous frame is repeated (the frame-rate tier: rendered every
  ``hold_every``-th tick).

Importance = action density (share of non-noop actions in the last second) + interactions in view (other agents
within ``interaction_m``, events involving the agent this tick) + novelty (distance from where the agent was a
second ago). Views of interactions are always tier 0: an agent within ``interaction_m`` of another, or named in
an event this tick, or that has such an agent within ``sight_m`` roughly ahead (a view of an interaction), is
rendered in full, whatever its score. Every view is rendered in full at least every
``refresh_every`` ticks, so no view drifts far from the truth. Videos stay one frame per tick: tiers change how a
frame is made, never whether it exists.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mpgenie.render.renderer import Renderer, RenderSettings
from mpgenie.world.simulation import World
from mpgenie.world.spatial import chord_unit

FULL, REDUCED, HELD = 0, 1, 2


@dataclass
class ViewStats:
    rays_cast: int = 0
    rays_full: int = 0
    tiers: NDArray[np.int64] = field(default_factory=lambda: np.zeros(3, dtype=np.int64))

    @property
    def saved(self) -> float:
        """Share of the full-detail rendering work not done."""
        return 1.0 - self.rays_cast / max(self.rays_full, 1)


class ViewManager:
    def __init__(
        self,
        world: World,
        settings: RenderSettings,
        interaction_m: float = 6.0,
        sight_m: float = 15.0,
        window_ticks: int = 20,
        high: float = 0.9,
        low: float = 0.45,
        hold_every: int = 2,
        refresh_every: int = 10,
    ) -> None:
        self.world = world
        self.full = Renderer(world, settings)
        self.reduced = Renderer(world, RenderSettings(**{**_fields(settings), "resolution": settings.resolution // 2}))
        self.interaction_m = interaction_m
        self.sight_m = sight_m
        self.high, self.low = high, low
        self.hold_every = hold_every
        self.refresh_every = refresh_every
        self._actions: deque[NDArray[np.int8]] = deque(maxlen=window_ticks)
        self._positions: deque[NDArray[np.float64]] = deque(maxlen=window_ticks)
        self._last: NDArray[np.uint8] | None = None
        self._since_full: NDArray[np.int64] | None = None
        self.stats = ViewStats()

    def importance(self, agents: NDArray[np.int64], involved: NDArray[np.bool_]) -> tuple[NDArray, NDArray]:
        """(score per agent, interacting per agent) for the current world state."""
        w = self.world
        p = w.pos[agents]
        chord = chord_unit(self.interaction_m, w.cfg.radius)
        d = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=2)
        np.fill_diagonal(d, np.inf)
        near = (d <= chord).sum(axis=1)
        interacting = (near > 0) | involved
        # A view *of* an interaction counts too: someone interacting within sight (near, roughly ahead).
        sight = chord_unit(self.sight_m, w.cfg.radius)
        to = p[None, :, :] - p[:, None, :]  # (viewer, other, 3) chords
        ahead = np.einsum("voc,vc->vo", to, w.fwd[agents]) > 0.5 * np.linalg.norm(to, axis=2)  # within ~60 deg
        watching = ((d <= sight) & ahead & interacting[None, :]).any(axis=1)
        interacting = interacting | watching
        acts = np.array(self._actions) if self._actions else np.zeros((1, agents.size), dtype=np.int8)
        density = (acts != 0).mean(axis=0)
        moved = (
            np.linalg.norm(p - self._positions[0], axis=1) * w.cfg.radius if self._positions else np.zeros(agents.size)
        )
        novelty = np.clip(moved / (w.cfg.walk_speed * max(len(self._positions), 1) * w.cfg.dt), 0.0, 1.0)
        score = density + 0.5 * novelty + 1.0 * np.minimum(near, 2) + 2.0 * involved
        return score, interacting

    def render(
        self, agents: NDArray[np.int64], actions: NDArray[np.int8], involved: NDArray[np.bool_]
    ) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
        """This tick's frames (full resolution, one per agent) and each view's tier."""
        w = self.world
        self._actions.append(actions.astype(np.int8))
        score, interacting = self.importance(agents, involved)
        self._positions.append(w.pos[agents].copy())
        n = agents.size
        res = self.full.settings.resolution
        if self._last is None or self._since_full is None:
            tiers = np.zeros(n, dtype=np.int8)
            self._since_full = np.zeros(n, dtype=np.int64)
        else:
            tiers = np.where(score >= self.high, FULL, np.where(score >= self.low, REDUCED, HELD)).astype(np.int8)
            tiers[(tiers == HELD) & (w.tick % self.hold_every == 0)] = REDUCED
            tiers[interacting | (self._since_full >= self.refresh_every - 1)] = FULL
        frames = np.empty((n, res, res, 3), dtype=np.uint8) if self._last is None else self._last.copy()
        full = np.flatnonzero(tiers == FULL)
        reduced = np.flatnonzero(tiers == REDUCED)
        if full.size:
            frames[full] = self.full.render(agents[full])
        if reduced.size:
            small = self.reduced.render(agents[reduced])
            frames[reduced] = small.repeat(2, axis=1).repeat(2, axis=2)
        self._since_full = np.where(tiers == FULL, 0, self._since_full + 1)
        self._last = frames
        self.stats.rays_full += n * res * res
        self.stats.rays_cast += full.size * res * res + reduced.size * (res // 2) ** 2
        self.stats.tiers += np.bincount(tiers, minlength=3)
        return frames, tiers


def _fields(settings: RenderSettings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
