"""``mpgenie bench env``: agent-steps per second per core of the multi-agent environment.

Four cases: the PettingZoo env (``snowball_v0``, one world, dicts in and out) and the vectorised path
(:class:`~mpgenie.agents.vector.VectorSnowball`, many worlds as arrays), each with state and with 64x64 pixel
observations. Random actions, drawn before the clock starts (the PettingZoo case still builds its action dict
every step, as a trainer would). Per core = agent-steps over the process's CPU seconds (``process_time``), so a
busy machine shows in ``cpu_per_wall`` rather than in the rate. Anchor: Neural MMO ~3,000 agent-steps/s/core.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.vector import VectorSnowball
from mpgenie.errors import UsageError
from mpgenie.world.actions import NUM_ACTIONS

ANCHOR_NEURAL_MMO = 3_000
TARGETS = {"state": 50_000, "pixels": 3_000}


def _timed(step: Callable[[int], None], steps: int, agents: int) -> dict[str, Any]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(i)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    total = steps * agents
    return {
        "agents": agents,
        "steps": steps,
        "agent_steps": total,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "cpu_per_wall": round(cpu / wall, 3) if wall else 0.0,
        "agent_steps_per_s": round(total / wall, 1) if wall else 0.0,
        "agent_steps_per_s_per_core": round(total / cpu, 1) if cpu else 0.0,
    }


def _pettingzoo(cfg: EnvConfig, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    try:
        from mpgenie.agents.env import SnowballEnv  # noqa: PLC0415 - the extra 'agents', only for this case
    except ImportError as exc:  # pragma: no cover - the extra is part of make test
        raise UsageError(f"bench env needs the extra 'agents' (pip install 'mpgenie[agents]'): {exc}") from None
    env = SnowballEnv(cfg)
    env.reset(seed=seed)
    names = env.possible_agents
    acts = np.random.default_rng(seed).integers(0, NUM_ACTIONS, (steps + warmup, cfg.players)).tolist()
    for i in range(warmup):
        env.step(dict(zip(names, acts[i], strict=True)))

    def step(i: int) -> None:
        if not env.agents:
            env.reset()
        env.step(dict(zip(env.agents, acts[warmup + i], strict=False)))

    return _timed(step, steps, cfg.players)


def _vector(cfg: EnvConfig, worlds: int, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    vec = VectorSnowball(cfg, num_worlds=worlds, seed=seed)
    vec.reset()
    acts = np.random.default_rng(seed).integers(0, NUM_ACTIONS, (steps + warmup, worlds, cfg.players))
    for i in range(warmup):
        vec.step(acts[i])
    result = _timed(lambda i: vec.step(acts[warmup + i]), steps, worlds * cfg.players)
    result["worlds"] = worlds
    return result


def bench_env(
    players: int = 64,
    worlds: int = 16,
    steps: int = 200,
    pixel_steps: int = 10,
    warmup: int = 3,
    seed: int = 0,
    scenario: str = "mixed",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The four cases; ``players`` per world, ``worlds`` for the vectorised path."""
    if players < 1 or worlds < 1 or steps < 1 or pixel_steps < 1 or warmup < 0:
        raise UsageError("players, worlds, steps and pixel-steps must be >= 1, warmup >= 0")
    base = EnvConfig(players=players, scenario=scenario, max_steps=max(steps, pixel_steps) + warmup + 1)
    cases: dict[str, dict[str, Any]] = {}
    plan = [
        ("pettingzoo_state", lambda: _pettingzoo(base, steps, warmup, seed)),
        ("vector_state", lambda: _vector(base, worlds, steps, warmup, seed)),
        ("pettingzoo_pixels", lambda: _pettingzoo(base.replace(observation="pixels"), pixel_steps, warmup, seed)),
        ("vector_pixels", lambda: _vector(base.replace(observation="pixels"), worlds, pixel_steps, warmup, seed)),
    ]
    for k, (name, fn) in enumerate(plan):
        cases[name] = fn()
        if progress:
            progress(k + 1)
    meets = {name: case["agent_steps_per_s_per_core"] >= TARGETS[name.split("_")[1]] for name, case in cases.items()}
    return {
        "players_per_world": players,
        "scenario": scenario,
        "resolution": base.resolution,
        "cases": cases,
        "targets_per_core": TARGETS,
        "anchor_neural_mmo_per_core": ANCHOR_NEURAL_MMO,
        "meets_target": meets,
    }
