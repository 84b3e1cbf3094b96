"""Reading a world-model checkpoint (PyTorch, extra ``learn``).

Apart from the trainer so that serving a learned model (``genie.backends.LearnedWorldModel``) needs only the
model code, not the training loop and the dataset readers it brings in (pyarrow, the video decoder).
"""

from __future__ import annotations

# bandit B403: only for its UnpicklingError; loading uses weights_only=True
import pickle  # nosec B403
from pathlib import Path
from typing import Any

import torch

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
