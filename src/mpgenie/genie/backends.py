"""World-model backends: given a player's context, produce its next frame after an action.

``WorldModel`` is the interface the realtime server will call for every connected player; ``procedural`` is the
ground truth (the renderer over the authoritative world). Learned and remote (HTTP) backends implement the same
two methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from mpgenie.genie.context import NearbyPlayer, PlayerContext
from mpgenie.models.visible_players import features
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


def from_players(
    players: Sequence[NearbyPlayer],
    viewer_pos: NDArray[np.float64],
    viewer_heading: NDArray[np.float64],
    radius: float,
    within_m: float,
    max_others: int,
) -> NDArray[np.float32]:
    """The visible-player features of a live context's nearby players, seen from the viewer's previous pose.

    It lives here, not in ``mpgenie.models.visible_players``, because it reads the context's ``NearbyPlayer``
    objects: the models take plain arrays so they never import this serving layer."""
    return features(
        viewer_pos,
        viewer_heading,
        np.array([p.position for p in players], dtype=np.float64).reshape(-1, 3),
        np.array([p.heading for p in players], dtype=np.float64).reshape(-1, 3),
        np.array([p.last_action for p in players], dtype=np.int64),
        radius,
        within_m,
        max_others,
    )


class LearnedWorldModel:
    """A checkpoint trained with ``mpgenie train worldmodel`` as a world model (needs the ``learn`` extra).

    Per player it keeps the token history: ``start`` tokenizes the context's frames (the newest repeated when
    there are fewer than the model's context), ``step`` predicts the next frame's tokens for the true action and
    decodes them; the prediction becomes history, so the stream continues from the model's own frames until the
    next start (a continuity break). The nearby players are told as seen from the player's pose at its previous
    frame (models/visible_players.py says why), so that pose is kept too."""

    def __init__(self, checkpoint: str) -> None:
        from mpgenie.models.checkpoint import load_checkpoint  # noqa: PLC0415 - PyTorch is an optional extra

        self.model, _ = load_checkpoint(checkpoint)
        self.model.eval()
        self._codes: dict[int, list[object]] = {}
        self._pose: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}

    @staticmethod
    def _own_pose(context: PlayerContext) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.asarray(context.own["position"], dtype=np.float64), np.asarray(context.own["heading"], np.float64)

    def start(self, context: PlayerContext) -> None:
        import torch  # noqa: PLC0415

        from mpgenie.models.frames import to_tensor  # noqa: PLC0415

        res = self.model.cfg.tokenizer.resolution
        frames = [f for f in context.frames if f.shape[0] == res] or [np.zeros((res, res, 3), dtype=np.uint8)]
        c = self.model.cfg.dynamics.context_frames
        frames = ([frames[0]] * c + frames)[-c:]
        x = to_tensor(np.stack(frames))
        with torch.no_grad():
            self._codes[context.player] = list(self.model.tokenizer.encode(x)[1])
        self._pose[context.player] = self._own_pose(context)

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        import torch  # noqa: PLC0415

        from mpgenie.models.frames import to_frames  # noqa: PLC0415

        if context.player not in self._codes:
            self.start(context)
        history = self._codes[context.player]
        c = self.model.cfg.dynamics.context_frames
        past = torch.stack(history[-c:])[None]  # type: ignore[arg-type]
        position, heading = self._pose[context.player]
        own = context.own
        seen = from_players(
            context.players,
            position,
            heading,
            float(own["planet_radius_m"]),
            float(own["view_radius_m"]),
            self.model.cfg.dynamics.max_others,
        )
        self._pose[context.player] = self._own_pose(context)
        with torch.no_grad():
            nxt = self.model.dynamics.sample(past, torch.tensor([int(action)]), torch.from_numpy(seen)[None])
            image = self.model.tokenizer.decode_codes(nxt).clamp(-1, 1)
        history.append(nxt[0])
        del history[:-c]
        return to_frames(image[0])
