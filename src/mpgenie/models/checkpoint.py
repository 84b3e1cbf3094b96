"""Reading a world-model checkpoint, and saving / loading the IDM's and BC policy's (PyTorch, extra ``learn``).

Apart from the trainer so that serving a learned model (``genie.backends.LearnedWorldModel``) needs only the
model code, not the training loop and the dataset readers it brings in (pyarrow, the video decoder).
"""

from __future__ import annotations

import io

# bandit B403: only for its UnpicklingError; loading uses weights_only=True
import pickle  # nosec B403
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from mpgenie.atomic import write_bytes_atomic
from mpgenie.errors import UsageError
from mpgenie.models.genie import Genie, GenieConfig


def load_checkpoint(path: str | Path) -> tuple[Genie, dict[str, Any]]:
    """The model a checkpoint holds and its whole payload (config, step, history, optimizer states).

    Raises UsageError, with the first line of the cause, for a file that is not a checkpoint or one whose layers
    this version's models no longer have: the CLI shows that as a one-line error, not a traceback."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data: no pickle code
        model = Genie(GenieConfig.from_dict(payload["config"]))
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        # Not a checkpoint, or one written by an older version of these models (their layers have changed).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path} is not a world-model checkpoint this version can load ({first})") from exc
    return model, payload


def save_payload(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically (:mod:`mpgenie.atomic`: readers see the old file or the new one, never half of
    one). PPO's ``save_checkpoint`` is the same two lines in the agents package, which may not import this one."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)


def load_payload(path: str | Path, kind: str) -> dict[str, Any]:
    """A checkpoint's payload (tensors and plain data only: ``weights_only``) whose ``kind`` is ``kind`` (``idm``,
    ``bc``); a missing file, another file or another kind of checkpoint is a UsageError with one line."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path} is not a checkpoint this version can load ({first})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else None
        raise UsageError(f"{path} is not an {kind} checkpoint (it holds {found or 'something else'})")
    return payload


M = TypeVar("M", bound=torch.nn.Module)


def load_model(path: str | Path, kind: str, build: Callable[[dict[str, Any]], M]) -> tuple[M, dict[str, Any]]:
    """The network of a ``kind`` checkpoint, built by ``build(config dict)`` and loaded, in eval mode; a network
    this version's layers no longer match is a UsageError too."""
    payload = load_payload(path, kind)
    try:
        model = build(payload["config"])
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} holds a {kind} model this version cannot load ({str(exc).splitlines()[0]})") from exc
    return model.eval(), payload
