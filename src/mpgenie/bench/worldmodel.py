"""``mpgenie bench worldmodel``: how many frames a learned world model serves, per player and per core.

The realtime server asks the session's backend for every due player's frame once per tick (``step_many``: one
batched dynamics sample, MaskGIT rounds and action guidance included, and one tokenizer decode). This measures
that call for N players against drawing them one by one, on contexts assembled from a live world, so the number is
what serving costs, not a model microbenchmark. Weights do not change the cost: without ``--checkpoint`` an
untrained model of the preset is timed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from mpgenie.errors import UsageError
from mpgenie.genie.backends import valid_guidance
from mpgenie.genie.context import ContextAssembler
from mpgenie.models.designs import DEFAULT_TOKENIZER
from mpgenie.world.actions import NUM_ACTIONS
from mpgenie.world.config import WorldConfig
from mpgenie.world.simulation import World


def bench_worldmodel(
    players: int = 8,
    config: str = "tiny",
    checkpoint: str | None = None,
    frames: int = 20,
    threads: int = 0,
    resolution: int = 64,
    tokenizer: str = DEFAULT_TOKENIZER,
    guidance: float | None = None,
) -> dict[str, Any]:
    if players < 1 or frames < 2 or threads < 0:
        raise UsageError("players must be >= 1, frames >= 2 and threads >= 0")
    if not valid_guidance(guidance):
        raise UsageError("--guidance must be from 0 to 10 (1: no guidance)")
    try:
        import torch  # noqa: PLC0415 - the 'learn' extra

        from mpgenie.genie.backends import LearnedWorldModel  # noqa: PLC0415
        from mpgenie.models.genie import Genie, preset  # noqa: PLC0415
    except ImportError:
        raise UsageError("this needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
    cores = threads or os.cpu_count() or 1
    torch.set_num_threads(cores)
    torch.manual_seed(0)
    genie = None if checkpoint else Genie(preset(config, resolution, tokenizer))
    batched = LearnedWorldModel(checkpoint, model=genie, guidance=guidance)
    single = LearnedWorldModel(model=batched.model, guidance=guidance)
    cfg = batched.model.cfg
    world = World(WorldConfig(seed=0, radius=40.0))
    world.add_players(players)
    assembler = ContextAssembler(world)
    rng = np.random.default_rng(0)

    def run(model: LearnedWorldModel, one_by_one: bool) -> list[float]:
        seconds = []
        for _ in range(frames + 1):  # the first call starts every stream (tokenizes its context): not timed
            actions = rng.integers(0, NUM_ACTIONS, size=world.num_slots).astype(np.int8)
            world.step(actions)
            ctxs = [assembler.assemble(int(p), []) for p in world.active_ids()]
            acts = [int(actions[c.player]) for c in ctxs]
            t0 = time.perf_counter()
            if one_by_one:
                for c, a in zip(ctxs, acts, strict=True):
                    model.step(c, a)
            else:
                model.step_many(ctxs, acts)
            seconds.append(time.perf_counter() - t0)
        return seconds[1:]

    many = np.array(run(batched, one_by_one=False))
    one = np.array(run(single, one_by_one=True))
    fps_batched = players / float(np.mean(many))
    fps_single = players / float(np.mean(one))
    return {
        "players": players,
        "config": cfg.name,
        "tokenizer": cfg.tokenizer.design,
        "resolution": cfg.tokenizer.resolution,
        "threads": cores,
        "maskgit_steps": 4,
        "guidance": cfg.dynamics.guidance if guidance is None else guidance,
        "tick_ms_batched_p50": 1000.0 * float(np.percentile(many, 50)),
        "tick_ms_batched_p99": 1000.0 * float(np.percentile(many, 99)),
        "frames_per_s_per_player_batched": fps_batched / players,
        "frames_per_s_batched": fps_batched,
        "frames_per_s_per_core_batched": fps_batched / cores,
        "frame_ms_one_by_one": 1000.0 * float(np.mean(one)) / players,
        "frames_per_s_per_player_one_by_one": fps_single / players,
        "batching_speedup": fps_batched / fps_single,
    }
