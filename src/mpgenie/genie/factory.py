"""Which world model draws the streamed frames, from the few words a command line or a config gives.

Here, not in the CLI, so that every front end (the ``mpgenie`` command, a platform embedded in tests or another
program) builds the same backends and refuses the same mistakes, each with one readable ``WorldModelError``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mpgenie.dataset.format import RESOLUTIONS, RESOLUTIONS_TEXT
from mpgenie.errors import UsageError
from mpgenie.genie.backends import LearnedWorldModel, WorldModel, procedural_backend, valid_guidance
from mpgenie.genie.http import HttpWorldModel
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net.core import ServerCore

KINDS = ("procedural", "learned", "http")


class WorldModelError(UsageError):
    """A world model that cannot be made from what was asked."""


def make_world_model(
    kind: str,
    checkpoint: str | None = None,
    url: str | None = None,
    resolution: int = 64,
    guidance: float | None = None,
) -> tuple[Callable[[ServerCore], WorldModel], int]:
    """The per-session backend maker for ``kind`` and the frame size it draws (a learned model draws its own);
    ``guidance``: a learned model's action guidance (default: its config's).

    One learned model is shared by every session (loading it once is the expensive part); the procedural and HTTP
    backends are made per session."""
    if resolution not in RESOLUTIONS:
        raise WorldModelError(f"--frame-resolution must be {RESOLUTIONS_TEXT}")
    if guidance is not None and (kind != "learned" or not valid_guidance(guidance)):
        raise WorldModelError("--renderer-guidance is for --renderer learned, from 0 to 10 (1: no guidance)")
    if kind == "procedural":
        return procedural_backend(resolution), resolution
    if kind == "learned":
        if not checkpoint or not Path(checkpoint).exists():
            raise WorldModelError("--renderer learned needs --renderer-checkpoint pointing at a trained checkpoint")
        try:
            import torch  # noqa: F401, PLC0415 - PyTorch is an optional extra
        except ImportError:
            raise WorldModelError("this needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
        model = LearnedWorldModel(checkpoint, guidance=guidance)
        return (lambda core: model), model.model.cfg.tokenizer.resolution
    if kind == "http":
        if not url:
            raise WorldModelError("--renderer http needs --renderer-url")
        return (lambda core: HttpWorldModel(url)), resolution
    raise WorldModelError(f"unknown renderer {kind!r} ({', '.join(KINDS)})")


def make_streamer(
    kind: str,
    checkpoint: str | None = None,
    url: str | None = None,
    resolution: int = 64,
    guidance: float | None = None,
) -> FrameStreamer:
    """A frame streamer whose sessions draw with ``kind`` (see :func:`make_world_model`)."""
    backend, size = make_world_model(kind, checkpoint, url, resolution, guidance)
    return FrameStreamer(backend, resolution=size)
