"""Client-side prediction, reconciliation and interpolation under simulated latency, jitter and loss."""

import itertools

import numpy as np
import pytest

from mpgenie.net import protocol as p
from mpgenie.world import Action, WorldConfig

from .sim import Link, SimNet

WALKING = [Action.FORWARD] * 6 + [Action.TURN_LEFT] * 3 + [Action.LEFT, Action.RIGHT, Action.BACKWARD, Action.NOOP]
STEP_M = 4.0 / 20  # walk speed x dt


def quiet_cfg(**kw: object) -> WorldConfig:
    base = {"seed": 2, "num_hazards": 0, "num_collectibles": 0, "num_beacons": 0}
    base.update(kw)
    return WorldConfig.from_mapping(base)


def walker(client, seq: int) -> int:
    return int(WALKING[seq % len(WALKING)])


def jumper(client, seq: int) -> int:
    return int(Action.JUMP) if seq % 15 == 0 else walker(client, seq)


@pytest.mark.parametrize("latency", [0.0, 0.03, 0.15, 0.3])
def test_no_rubber_banding_for_legitimate_input_at_constant_latency(latency: float) -> None:
    net = SimNet(quiet_cfg(), seed=1)
    clients = [net.connect(f"w{i}", up=Link(latency), down=Link(latency), policy=walker) for i in range(3)]
    net.run(8.0)
    for c in clients:
        assert len(c.corrections) > 100
        assert max(c.corrections) < 1e-9  # replaying on the server's exact state lands on the prediction


def test_no_rubber_banding_under_jitter() -> None:
    """Jitter below a tick bunches inputs; the server's input buffer absorbs it and nothing is corrected."""
    net = SimNet(quiet_cfg(), seed=2)
    clients = [net.connect(f"j{i}", up=Link(0.05, 0.04), down=Link(0.05, 0.04), policy=walker) for i in range(4)]
    net.run(10.0)
    for c in clients:
        assert len(c.corrections) > 150
        assert max(c.corrections) < 1e-9


def test_fast_client_clock_is_paced_without_corrections() -> None:
    """A client clock 3 % fast sends more inputs than ticks; the server reports its buffer (``queued``) and the
    SDK skips an input now and then, so latency stays flat and nothing is dropped or corrected."""
    net = SimNet(quiet_cfg(), seed=8)
    c = net.connect("fast", up=Link(0.03, 0.02), down=Link(0.03, 0.02), policy=walker, clock_rate=1.03)
    net.run(30.0)
    assert c.state.skipped_inputs > 10
    assert net.server.metrics.value("mpgenie_inputs_absorbed_total", reason="late") == 0
    assert net.server.metrics.value("mpgenie_rejected_inputs_total", reason="rate_limit") == 0
    assert max(c.corrections) < 1e-9
    late = np.array(list(c.state.latencies)[-200:])
    assert late.max() < 0.03 + 0.02 + 0.05 * 2 + 0.03 + 0.02  # one-way up + at most two ticks + one-way down


def test_jumps_under_jitter_stay_within_a_small_bound() -> None:
    """An input that misses its tick turns into a stand-still tick on the server; in the air that shifts the jump
    arc by one tick, which the client corrects by centimetres, not metres."""
    net = SimNet(quiet_cfg(), seed=3)
    c = net.connect("jumper", up=Link(0.05, 0.06), down=Link(0.05, 0.04), policy=jumper)
    net.run(10.0)
    assert max(c.corrections) < 2 * STEP_M


def test_lost_inputs_are_corrected_once_and_converge() -> None:
    net = SimNet(quiet_cfg(), seed=4)
    c = net.connect("lossy", up=Link(0.05, 0.02, loss=0.05), down=Link(0.05, 0.02, loss=0.05), policy=walker)
    net.run(10.0)
    corrections = np.array(c.corrections)
    assert np.count_nonzero(corrections > 1e-9) > 0  # lost inputs do get corrected...
    assert corrections.max() <= 3 * STEP_M + 1e-9  # ...by at most the few steps that were lost...
    assert np.median(corrections) < 1e-9  # ...and most snapshots need no correction at all
    c.policy = lambda client, seq: None  # stop sending: prediction and server must agree exactly
    net.run(1.0)
    server = net.server.world
    assert np.allclose(c.state.predictor.pos[0], server.pos[c.state.player], atol=1e-12)


def test_server_caused_moves_are_corrected() -> None:
    """A knockback is the server's decision: the client snaps to it once, then predicts from there."""
    net = SimNet(quiet_cfg(), seed=5)
    c = net.connect("victim", policy=lambda client, seq: int(Action.NOOP))
    net.run(0.5)
    w = net.server.world
    me = c.state.player
    w.teleport(me, w.pos[me] + 0.05 * w.fwd[me], w.fwd[me])
    net.run(0.5)
    assert max(c.corrections) > 1.0
    assert np.allclose(c.state.predictor.pos[0], w.pos[me], atol=1e-12)


def test_interpolation_tracks_remote_players_smoothly() -> None:
    net = SimNet(quiet_cfg(), seed=6)
    mover = net.connect("mover", policy=lambda client, seq: int(Action.FORWARD))
    viewer = net.connect("viewer", policy=lambda client, seq: int(Action.NOOP), down=Link(0.05, 0.03))
    net.run(0.2)
    w = net.server.world
    w.teleport(viewer.state.player, w.pos[mover.state.player], w.fwd[mover.state.player])  # side by side
    truth: dict[int, np.ndarray] = {}
    samples = []
    lags = []
    for _ in range(180):  # 60 frames per second for 3 s
        net.run(1 / 60)
        truth[w.tick] = w.pos[mover.state.player].copy()
        view = viewer.state.interpolator.sample(net.now)
        hit = np.flatnonzero(view.ids == mover.state.player)
        if hit.size:
            samples.append((view.tick, view.pos[hit[0]]))
            lags.append(w.tick - view.tick)
    assert len(samples) > 150
    steps = [np.linalg.norm(b[1] - a[1]) * w.cfg.radius for a, b in itertools.pairwise(samples[60:])]
    assert max(steps) < 4.0 / 60 * 1.6  # smooth: no frame jumps further than walking allows (with margin)
    errors = []
    for tick, pos in samples[60:]:
        t0 = int(np.floor(tick))
        if t0 in truth and t0 + 1 in truth:
            u = tick - t0
            expected = truth[t0] * (1 - u) + truth[t0 + 1] * u
            errors.append(np.linalg.norm(pos - expected / np.linalg.norm(expected)) * w.cfg.radius)
    assert len(errors) > 50 and max(errors) < 0.01  # within quantization of the true path
    lag_ticks = float(np.mean(lags[60:]))
    assert 1.5 < lag_ticks < 4.5  # drawn about 100 ms (2 ticks) + one-way latency behind


def test_spectators_follow_and_see_players() -> None:
    net = SimNet(quiet_cfg(), seed=7)
    players = [net.connect(f"p{i}", policy=walker) for i in range(3)]
    net.run(0.3)
    spec = net.connect("spec", spectate=p.Spectate(follow=players[0].state.player))
    net.run(1.0)
    assert spec.state.player == -1
    seen = set(spec.state.entities()["id"].tolist())
    assert players[0].state.player in seen  # the followed player is in its own spectator's view
    w = net.server.world
    expected = {
        i
        for i in w.active_ids().tolist()
        if np.arccos(np.clip(w.pos[i] @ w.pos[players[0].state.player], -1, 1)) * w.cfg.radius <= w.cfg.render_distance
    }
    assert seen == expected
    assert not any(isinstance(m, p.Error) for m in spec.received)
