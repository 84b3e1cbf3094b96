"""The world-model backends: serving a learned model needs the model code, not the trainer."""

import subprocess
import sys
from pathlib import Path

import torch

from mpgenie.models.genie import Genie, preset

SERVE = """
import sys
import numpy as np
from mpgenie.genie.backends import LearnedWorldModel
from mpgenie.genie.context import ContextAssembler
from mpgenie.world import World, WorldConfig

world = World(WorldConfig(seed=1, radius=20.0))
world.add_players(2)
model = LearnedWorldModel(sys.argv[1])
ctx = ContextAssembler(world).assemble(0, [])
model.start(ctx)
frame = model.step(ctx, 1)
assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8, (frame.shape, frame.dtype)
print("mpgenie.models.train" in sys.modules, "mpgenie.dataset.reader" in sys.modules)
"""


def test_the_learned_backend_loads_and_steps_without_importing_the_trainer(tmp_path: Path) -> None:
    model = Genie(preset("tiny", 32))
    ckpt = tmp_path / "tiny.pt"
    torch.save({"config": model.cfg.to_dict(), "model": model.state_dict(), "step": 0, "history": []}, ckpt)
    out = subprocess.run([sys.executable, "-c", SERVE, str(ckpt)], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
