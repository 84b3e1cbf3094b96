"""World-model backends: given a player's context, produce its next frame after an action.

``WorldModel`` is the interface the realtime server will call for every connected player; ``procedural`` is the
ground truth (the renderer over the authoritative world). Learned and remote (HTTP) backends implement the same
two methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from mpgenie.genie.context import PlayerContext
from mpgenie.render import Renderer, RenderSettings
from mpgenie.world.simulation import World


class WorldModel(Protocol):
    def start(self, context: PlayerContext) -> None:
        """(Re)start a player's stream from this context (after a join or a continuity break)."""
        ...

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        """The player's next frame after ``action`` (the world has applied it), as (H, W, 3) uint8."""
        ...


class ProceduralWorldModel:
    """The ground-truth renderer as a world model: it ignores history and draws the authoritative state."""

    def __init__(self, world: World, settings: RenderSettings | None = None) -> None:
        self.renderer = Renderer(world, settings or RenderSettings())

    def start(self, context: PlayerContext) -> None:
        return None

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        return self.renderer.render(np.array([context.player]))[0]
