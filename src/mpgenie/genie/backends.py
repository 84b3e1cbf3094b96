"""World-model backends: given a player's context, produce its next frame after an action.

``WorldModel`` is the interface the realtime server calls for every connected player that asked for frames;
``procedural`` is the ground truth (the renderer over the authoritative world). Learned and remote (HTTP) backends
implement the same methods. ``step_many`` draws all of a tick's players in one call (one renderer kernel, one
batched model forward), which is where a learned model's frames per second come from; :func:`step_all` uses it
when a backend has it and falls back to one ``step`` per player otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

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


def step_all(model: WorldModel, contexts: Sequence[PlayerContext], actions: Sequence[int]) -> list[NDArray[np.uint8]]:
    """Every player's next frame: in one batched call when the backend has ``step_many``, else one by one."""
    many = getattr(model, "step_many", None)
    if many is not None:
        return list(many(contexts, actions))
    return [model.step(c, a) for c, a in zip(contexts, actions, strict=True)]


class ProceduralWorldModel:
    """The ground-truth renderer as a world model: it ignores history and draws the authoritative state."""

    def __init__(self, world: World, settings: RenderSettings | None = None) -> None:
        self.renderer = Renderer(world, settings or RenderSettings())

    def start(self, context: PlayerContext) -> None:
        return None

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        return self.step_many([context], [action])[0]

    def step_many(self, contexts: Sequence[PlayerContext], actions: Sequence[int]) -> list[NDArray[np.uint8]]:
        return list(self.renderer.render(np.array([c.player for c in contexts], dtype=np.int64)))


def procedural_backend(resolution: int) -> Callable[[Any], ProceduralWorldModel]:
    """A session's ground-truth backend at this frame size (``core -> model``): the streamer's default, its fallback
    and ``--renderer procedural``."""
    return lambda core: ProceduralWorldModel(core.world, RenderSettings(resolution))


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


#: Action guidance a learned model may be served with (1: none, one transformer pass per MaskGIT round).
MAX_GUIDANCE = 10.0


def valid_guidance(guidance: float | None) -> bool:
    """None (the model's own) or a guidance in [0, MAX_GUIDANCE]."""
    return guidance is None or 0.0 <= guidance <= MAX_GUIDANCE


class LearnedWorldModel:
    """A checkpoint trained with ``mpgenie train worldmodel`` as a world model (needs the ``learn`` extra).

    Per player it keeps the token history: ``start`` tokenizes the context's frames (the newest repeated when
    there are fewer than the model's context), ``step`` predicts the next frame's tokens for the true action and
    decodes them; the prediction becomes history, so the stream continues from the model's own frames until the
    next start (a continuity break). The nearby players are told as seen from the player's pose at its previous
    frame (models/visible_players.py says why), so that pose is kept too, and so is its last frame, which the
    reference tokenizer decodes the next one from."""

    def __init__(self, checkpoint: str | None = None, model: Any = None, guidance: float | None = None) -> None:
        """From a checkpoint file, or from a ``mpgenie.models.genie.Genie`` already in memory (benchmarks).
        ``guidance``: the action guidance of every frame (default: the model's config). Guidance other than 1 costs a
        second transformer pass per MaskGIT round: serving at 1 is about twice as fast and follows actions less."""
        if model is None:
            from mpgenie.models.checkpoint import load_checkpoint  # noqa: PLC0415 - PyTorch is an optional extra

            if checkpoint is None:
                raise ValueError("a checkpoint or a model is needed")
            model, _ = load_checkpoint(checkpoint)
        self.model = model
        self.model.eval()
        self.guidance = guidance
        self._codes: dict[int, list[Any]] = {}
        self._pose: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        self._last: dict[int, Any] = {}  # the player's last frame as a (3, H, W) tensor

    @staticmethod
    def _own_pose(context: PlayerContext) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.asarray(context.own["position"], dtype=np.float64), np.asarray(context.own["heading"], np.float64)

    def start(self, context: PlayerContext) -> None:
        import torch  # noqa: PLC0415

        from mpgenie.models.frames import to_tensor  # noqa: PLC0415

        res = self.model.cfg.tokenizer.resolution
        seen_frames = [f for f in context.frames if f.shape[0] == res]
        frames = seen_frames or [np.zeros((res, res, 3), dtype=np.uint8)]
        c = self.model.cfg.dynamics.context_frames
        frames = ([frames[0]] * c + frames)[-c:]
        x = to_tensor(np.stack(frames))
        with torch.no_grad():
            self._codes[context.player] = list(self.model.tokenizer.encode(x)[1])
        # No frame yet: the reference design's "no frame before" (all zeros), not a black picture.
        self._last[context.player] = x[-1] if seen_frames else torch.zeros_like(x[-1])
        self._pose[context.player] = self._own_pose(context)

    def step(self, context: PlayerContext, action: int) -> NDArray[np.uint8]:
        return self.step_many([context], [action])[0]

    def step_many(self, contexts: Sequence[PlayerContext], actions: Sequence[int]) -> list[NDArray[np.uint8]]:
        """All players' next frames in one batched dynamics sample (MaskGIT rounds included) and one decode."""
        import torch  # noqa: PLC0415

        from mpgenie.models.frames import to_frames  # noqa: PLC0415

        c = self.model.cfg.dynamics.context_frames
        pasts, seen = [], []
        for context in contexts:
            if context.player not in self._codes:
                self.start(context)
            pasts.append(torch.stack(self._codes[context.player][-c:]))
            position, heading = self._pose[context.player]
            own = context.own
            seen.append(
                from_players(
                    context.players,
                    position,
                    heading,
                    float(own["planet_radius_m"]),
                    float(own["view_radius_m"]),
                    self.model.cfg.dynamics.max_others,
                )
            )
            self._pose[context.player] = self._own_pose(context)
        with torch.no_grad():
            nxt = self.model.dynamics.sample(
                torch.stack(pasts),
                torch.tensor([int(a) for a in actions]),
                torch.from_numpy(np.stack(seen)),
                guidance=self.guidance,
            )
            before = torch.stack([self._last[context.player] for context in contexts])
            images = self.model.tokenizer.decode_codes(nxt, before).clamp(-1, 1)
        frames = []
        for i, context in enumerate(contexts):
            history = self._codes[context.player]
            history.append(nxt[i])
            del history[:-c]
            self._last[context.player] = images[i]
            frames.append(to_frames(images[i]))
        return frames
