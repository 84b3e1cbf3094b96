"""The one frame <-> tensor conversion the trainer, the metrics and the learned backend share."""

from pathlib import Path

import numpy as np
import torch

import mpgenie
from mpgenie.models.frames import to_255, to_frames, to_tensor
from mpgenie.models.tokenizer import Tokenizer


def test_uint8_frames_round_trip_exactly() -> None:
    levels = np.arange(256, dtype=np.uint8)
    frames = np.stack([np.broadcast_to(levels.reshape(16, 16, 1), (16, 16, 3))] * 2)  # (2, 16, 16, 3)
    x = to_tensor(frames)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    back = to_frames(x)
    assert back.dtype == np.uint8 and back.shape == frames.shape and (back == frames).all()


def test_model_outputs_are_clamped_and_rounded_not_truncated() -> None:
    values = [-3.0, -1.0, 1.0, 2.5, 1.6 / 127.5 - 1.0, 0.4 / 127.5 - 1.0]  # out of range, ends, 1.6 and 0.4 levels
    x = torch.tensor(values).view(1, len(values), 1).expand(3, len(values), 1)  # (3, H, 1)
    assert to_frames(x)[:, 0, 0].tolist() == [0, 0, 255, 255, 2, 0]
    assert to_255(torch.tensor([-2.0, 0.0, 2.0])).tolist() == [0.0, 127.5, 255.0]


def test_the_conversion_is_written_once() -> None:
    """The scale of the conversion (127.5) appears in models/frames.py only; Tokenizer.to_input (unused) is gone."""
    root = Path(mpgenie.__file__).parent
    elsewhere = [
        str(f.relative_to(root))
        for sub in ("models", "genie")
        for f in (root / sub).glob("*.py")
        if f.name != "frames.py" and "127.5" in f.read_text()
    ]
    assert elsewhere == []
    assert not hasattr(Tokenizer, "to_input")
