"""All of a tick's players drawn in one backend call: the same frames as one call per player, for the procedural
renderer and for a learned model; the streamer makes one call per session tick."""

from __future__ import annotations

import numpy as np
import pytest

from mpgenie.genie.backends import LearnedWorldModel, ProceduralWorldModel, step_all
from mpgenie.genie.context import ContextAssembler, PlayerContext
from mpgenie.genie.streamer import FrameStreamer
from mpgenie.net.core import ServerCore
from mpgenie.render import RenderSettings
from mpgenie.world import World, WorldConfig

from .test_streaming import _Peer  # the in-memory peer of the streaming tests

CFG = WorldConfig(seed=5, radius=40.0, num_landmarks=8)


def contexts(world: World, n: int) -> list[PlayerContext]:
    assembler = ContextAssembler(world)
    return [assembler.assemble(int(p), []) for p in world.active_ids()[:n]]


def test_procedural_batch_equals_one_by_one() -> None:
    world = World(CFG)
    world.add_players(5)
    world.step()
    model = ProceduralWorldModel(world, RenderSettings(32))
    ctxs = contexts(world, 5)
    batch = model.step_many(ctxs, [0] * 5)
    single = [model.step(c, 0) for c in ctxs]
    assert all(np.array_equal(a, b) for a, b in zip(batch, single, strict=True))


def test_learned_batch_equals_one_by_one() -> None:
    torch = pytest.importorskip("torch")
    from mpgenie.models.genie import Genie, preset  # noqa: PLC0415

    torch.manual_seed(0)
    genie = Genie(preset("tiny", 32))
    world = World(CFG)
    world.add_players(4)
    world.step()
    ctxs = contexts(world, 4)
    batched, single = LearnedWorldModel(model=genie), LearnedWorldModel(model=genie)
    for tick in range(3):  # the token history carries over between steps
        actions = [(tick + k) % 10 for k in range(4)]
        many = batched.step_many(ctxs, actions)
        one = [single.step(c, a) for c, a in zip(ctxs, actions, strict=True)]
        for a, b in zip(many, one, strict=True):
            assert a.shape == b.shape == (32, 32, 3)
            # Batched matrix products may round differently; a different argmax would change whole tokens.
            assert np.mean(np.abs(a.astype(int) - b.astype(int))) < 1.0


class _Counting(ProceduralWorldModel):
    def __init__(self, world: World) -> None:
        super().__init__(world, RenderSettings(32))
        self.calls: list[int] = []

    def step_many(self, contexts: list[PlayerContext], actions: list[int]) -> list[np.ndarray]:  # type: ignore[override]
        self.calls.append(len(contexts))
        return super().step_many(contexts, actions)


def test_the_streamer_draws_a_ticks_players_in_one_call() -> None:
    from mpgenie.net import protocol as p  # noqa: PLC0415
    from mpgenie.net.tickets import DEV_SECRET, issue_ticket  # noqa: PLC0415

    core = ServerCore(CFG)
    made: list[_Counting] = []

    def backend(c: ServerCore) -> _Counting:
        made.append(_Counting(c.world))
        return made[-1]

    streamer = FrameStreamer(backend, resolution=32)
    peers = [_Peer(backlog=0) for _ in range(6)]
    for k, peer in enumerate(peers):
        core.on_connect(peer, 0.0)
        hello = p.Hello(p.PROTOCOL_VERSION, issue_ticket(DEV_SECRET, f"v{k}"), frames=core.cfg.tick_rate)
        core.on_message(peer, p.encode(hello), 0.0)
    for t in range(5):
        core.tick(0.05 * (t + 1))
        streamer.tick(core)
    assert made and made[0].calls == [6] * 5  # every tick: one call for all six players
    assert streamer.sent == 30
    assert step_all(made[0], [], []) == []


@pytest.mark.parametrize("tokenizer", ["plain", "residual", "reference"])
def test_bench_worldmodel_times_every_tokenizer_design(tokenizer: str) -> None:
    pytest.importorskip("torch")
    from mpgenie.bench.worldmodel import bench_worldmodel  # noqa: PLC0415 - the 'learn' extra

    r = bench_worldmodel(players=2, frames=2, threads=1, resolution=32, tokenizer=tokenizer)
    assert r["tokenizer"] == tokenizer and r["players"] == 2 and r["resolution"] == 32
    assert r["frames_per_s_per_player_batched"] > 0 and r["tick_ms_batched_p99"] >= r["tick_ms_batched_p50"] > 0


@pytest.mark.parametrize(("guidance", "passes"), [(None, 8), (2.0, 8), (1.0, 4)])
def test_served_guidance_sets_the_transformer_passes_per_frame(guidance: float | None, passes: int) -> None:
    """Guidance 1 serves with one transformer pass per MaskGIT round (4 rounds), any other with two."""
    torch = pytest.importorskip("torch")
    from mpgenie.models.genie import Genie, preset  # noqa: PLC0415

    torch.manual_seed(0)
    genie = Genie(preset("tiny", 32))  # the preset's guidance is 2
    world = World(CFG)
    world.add_players(3)
    world.step()
    model = LearnedWorldModel(model=genie, guidance=guidance)
    ctxs = contexts(world, 3)
    model.step_many(ctxs, [1, 2, 3])  # starts the streams
    calls = []
    real = genie.dynamics.logits
    genie.dynamics.logits = lambda *a, **k: calls.append(1) or real(*a, **k)  # count, then run the real thing
    model.step_many(ctxs, [1, 2, 3])
    assert len(calls) == passes  # one batched call per pass for all three players


def test_bench_worldmodel_reports_the_guidance_it_served() -> None:
    pytest.importorskip("torch")
    from mpgenie.bench.worldmodel import bench_worldmodel  # noqa: PLC0415 - the 'learn' extra
    from mpgenie.errors import UsageError  # noqa: PLC0415

    assert bench_worldmodel(players=1, frames=2, threads=1, resolution=32, guidance=1.0)["guidance"] == 1.0
    with pytest.raises(UsageError, match="--guidance"):
        bench_worldmodel(players=1, frames=2, threads=1, resolution=32, guidance=-1.0)
