"""The other-player features: the trainer (from recorded arrays) and the learned backend (from the live context)
must tell the dynamics model the same numbers."""

import subprocess
import sys

import numpy as np
import pytest

from mpgenie.genie.backends import from_players
from mpgenie.genie.context import ContextAssembler
from mpgenie.models.visible_players import OTHER_FEATURES, SCALE_M, features, from_episode
from mpgenie.world import World, WorldConfig


def test_trainer_and_backend_features_agree_on_the_same_world() -> None:
    world = World(WorldConfig(seed=5, radius=20.0, render_distance=62.0))  # all in sight (antipode 62.8 m)
    world.add_players(6)
    assembler = ContextAssembler(world)
    rng = np.random.default_rng(0)
    position, heading, action, alive, live = [], [], [], [], []
    previous = {p: (world.pos[p].copy(), world.fwd[p].copy()) for p in range(6)}
    for _ in range(30):
        acts = rng.integers(0, 7, size=world.num_slots).astype(np.int8)  # moves and turns
        world.step(acts)
        # As the recorder writes a row (float32) ...
        position.append(world.pos[:6].astype(np.float32))
        heading.append(world.fwd[:6].astype(np.float32))
        action.append(acts[:6].astype(np.int64))
        alive.append(world.active[:6].copy())
        # ... and as the learned backend computes it from the context, seen from each player's previous pose.
        tick = []
        for p in range(6):
            ctx = assembler.assemble(p, [])
            tick.append(from_players(ctx.players, *previous[p], world.cfg.radius, world.cfg.render_distance, 4))
            previous[p] = (world.pos[p].copy(), world.fwd[p].copy())
        live.append(tick)
    recorded = from_episode(
        np.stack(position), np.stack(heading), np.stack(action), np.stack(alive), world.cfg.radius, 62.0, 4
    )
    assert recorded.shape == (6, 30, 4, OTHER_FEATURES)
    assert not recorded[:, 0].any()  # no previous frame
    for t in range(1, 30):
        for p in range(6):
            assert recorded[p, t] == pytest.approx(live[t][p], abs=2e-4), (t, p)
    assert np.count_nonzero(recorded[:, 1:, :, 3]) == 6 * 29 * 4  # every row used: 5 others, 4 told


def test_features_order_range_and_padding() -> None:
    p, h = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])  # on top, facing +x; right is h x p = -y
    radius = 100.0
    step = 1.0 / radius  # 1 m in radians
    near = np.array([np.sin(5 * step), 0.0, np.cos(5 * step)])  # 5 m ahead
    side = np.array([0.0, -np.sin(10 * step), np.cos(10 * step)])  # 10 m to the right
    far = np.array([np.sin(50 * step), 0.0, np.cos(50 * step)])  # out of a 30 m range
    facing = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])  # the one ahead faces the viewer
    out = features(p, h, np.stack([side, far, near]), facing, np.array([9, 1, 0]), radius, 30.0, 4)
    assert out[0] == pytest.approx([5 / SCALE_M, 0.0, 0.0, -1.0, 0.0], abs=1e-6)  # nearest first, facing back
    assert out[1] == pytest.approx([0.0, 10 / SCALE_M, 0.0, 1.0, 1.0], abs=1e-6)
    assert not out[2:].any()  # the far one is left out; padding is zero
    assert not features(p, h, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, int), radius, 30.0, 4).any()


def test_the_feature_code_does_not_import_the_serving_layer() -> None:
    """models sits below genie: importing the feature code must not pull in mpgenie.genie (that was an import loop:
    genie.backends -> models.others -> genie.context)."""
    code = (
        "import sys, mpgenie.models.visible_players; "
        "print(sorted(m for m in sys.modules if m.startswith(('mpgenie.genie', 'mpgenie.net', 'mpgenie.render'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
