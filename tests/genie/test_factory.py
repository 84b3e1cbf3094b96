"""The world-model factory: every renderer kind the command line offers, and a clear error for each mistake."""

from pathlib import Path

import pytest
import torch

from mpgenie.genie.backends import LearnedWorldModel, ProceduralWorldModel
from mpgenie.genie.factory import WorldModelError, make_streamer, make_world_model
from mpgenie.genie.http import HttpWorldModel
from mpgenie.models.genie import Genie, preset
from mpgenie.net.core import ServerCore
from mpgenie.world import WorldConfig

CFG = WorldConfig(seed=2, radius=40.0, num_landmarks=8)


@pytest.mark.parametrize(
    ("kind", "checkpoint", "url", "resolution", "says"),
    [
        ("magic", None, None, 64, "unknown renderer 'magic'"),
        ("procedural", None, None, 48, "--frame-resolution must be 32, 64, 128 or 256"),
        ("learned", None, None, 64, "--renderer-checkpoint"),
        ("learned", "/no/such/checkpoint.pt", None, 64, "--renderer-checkpoint"),
        ("http", None, None, 64, "--renderer-url"),
    ],
)
def test_bad_input_is_refused_with_a_value_error(
    kind: str, checkpoint: str | None, url: str | None, resolution: int, says: str
) -> None:
    with pytest.raises(WorldModelError, match=says) as caught:
        make_streamer(kind, checkpoint, url, resolution)
    assert isinstance(caught.value, ValueError)  # the CLI shows ValueErrors as one-line user errors


def test_each_kind_makes_its_backend_per_session() -> None:
    core = ServerCore(CFG)
    streamer = make_streamer("procedural", resolution=32)
    assert streamer.resolution == 32 and isinstance(streamer.make_backend(core), ProceduralWorldModel)
    make, size = make_world_model("http", url="http://127.0.0.1:9/")
    assert size == 64 and isinstance(make(core), HttpWorldModel) and make(core) is not make(core)


def _tiny_checkpoint(tmp_path: Path) -> Path:
    """An untrained ``tiny`` at 32x32, saved as the trainer saves checkpoints."""
    model = Genie(preset("tiny", 32))
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": model.cfg.to_dict(), "model": model.state_dict(), "step": 0, "history": []}, ckpt)
    return ckpt


def test_a_learned_model_is_loaded_once_and_draws_at_its_own_resolution(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path)
    streamer = make_streamer("learned", str(ckpt), resolution=128)
    assert streamer.resolution == 32
    a, b = streamer.make_backend(ServerCore(CFG)), streamer.make_backend(ServerCore(CFG))
    assert isinstance(a, LearnedWorldModel) and a is b


@pytest.mark.parametrize(
    ("kind", "guidance"), [("procedural", 2.0), ("http", 1.0), ("learned", 11.0), ("learned", -1.0)]
)
def test_renderer_guidance_is_only_for_a_learned_model_in_range(kind: str, guidance: float) -> None:
    with pytest.raises(WorldModelError, match="--renderer-guidance"):
        make_streamer(kind, "/no/such.pt", "http://127.0.0.1:9/", 64, guidance)


def test_a_learned_model_serves_the_guidance_asked_for(tmp_path: Path) -> None:
    ckpt = _tiny_checkpoint(tmp_path)
    backend = make_streamer("learned", str(ckpt), guidance=1.0).make_backend(ServerCore(CFG))
    assert isinstance(backend, LearnedWorldModel) and backend.guidance == 1.0
