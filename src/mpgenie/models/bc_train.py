"""``mpgenie train bc`` and ``mpgenie eval bc``: behavioural cloning on (pseudo-)labels and the policies' play.

Training pairs the frames a player had seen before row t with row t's label (models/bc.py explains the timing),
from ``pseudo_action`` (``--labels pseudo``, written by ``mpgenie label``) or from the recorded ``action``
(``--labels true``: the upper baseline VPT could not have). All episodes are used; the evaluation is play, not a
held-out split.

Evaluation plays the pixel environment (:class:`~mpgenie.agents.vector.VectorSnowball`, fresh world seeds no
dataset was recorded with): every policy named, the scripted teacher that generated the data (its styles drawn
per episode from the scenario templates in turn, as ``mpgenie generate`` does) and a uniformly random policy as
the floor, on the same worlds. It reports the task reward (the environment's ``mixed`` reward scenario) and the
score (points) per agent and episode, and the KL divergence of each policy's action distribution from the
teacher's, KL(teacher || policy), over all agent-ticks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.policy import SCENARIOS, ScriptedPolicy, draw_styles
from mpgenie.agents.vector import VectorSnowball
from mpgenie.errors import UsageError
from mpgenie.models.bc import BCConfig, BCNet, load_bc, load_policy, past_indices
from mpgenie.models.checkpoint import save_payload
from mpgenie.models.frames import to_tensor
from mpgenie.models.idm_train import check_device
from mpgenie.models.vpt import describe, episode_indices, fit, load_views
from mpgenie.world.actions import ACTION_NAMES, NUM_ACTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class BCTrainConfig:
    data: str | Path
    out: str | Path
    labels: str = "pseudo"  # pseudo (mpgenie label) or true (the recorded actions)
    steps: int = 2000
    history: int = 4
    device: str = "cpu"
    seed: int = 0
    time_limit: float | None = None


def train_bc(config: BCTrainConfig, progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    device = check_device(config.device)
    if config.history < 1:
        raise UsageError("--history must be >= 1")
    views = load_views(config.data, episode_indices(config.data), config.labels)
    cfg = BCConfig(resolution=int(views.frames.shape[2]), history=config.history)
    model = BCNet(cfg).to(device)
    n, length = views.frames.shape[:2]

    def batch_loss(rng: np.random.Generator) -> torch.Tensor:
        v = rng.integers(0, n, size=cfg.batch)
        t = rng.integers(1, length, size=cfg.batch)  # row 0 was decided before any frame was seen
        x = to_tensor(views.frames[v[:, None], past_indices(t, cfg.history)]).to(device)
        return model.loss(model(x), torch.from_numpy(views.labels[v, t]).to(device))

    result = fit(
        model, batch_loss, steps=config.steps, lr=cfg.lr, seed=config.seed, time_limit=config.time_limit,
        progress=progress,
    )  # fmt: skip
    save_payload(
        config.out,
        {
            "kind": "bc",
            "config": cfg.to_dict(),
            "model": {k: v.cpu() for k, v in model.state_dict().items()},
            "data": str(Path(config.data).resolve()),
            "labels": config.labels,
            "steps": result.steps,
            "seconds": result.seconds,
            "history": result.history,
        },
    )
    return {
        "checkpoint": str(config.out),
        "labels": config.labels,
        "data": describe(views),
        "steps": result.steps,
        "stopped_by_time_limit": result.stopped_by_time_limit,
        "seconds": round(result.seconds, 1),
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "device": device,
    }


class RandomPolicy:
    """The floor: uniformly random actions (seeded)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng([seed, 29])

    def act(self, obs: Observation) -> NDArray[np.int8]:
        return self.rng.integers(0, NUM_ACTIONS, obs.agents.shape[0]).astype(np.int8)


def play(
    make: Callable[[int, int], Policy], episodes: int, players: int, steps: int, seed: int, resolution: int = 64
) -> dict[str, Any]:
    """Play ``episodes`` episodes of the pixel environment with ``make(episode, seed)``'s policy for all agents:
    mean reward and score per agent-episode and the action histogram."""
    env = VectorSnowball(
        EnvConfig(players=players, observation="pixels", max_steps=steps, resolution=resolution), autoreset=False
    )
    rewards, points = [], []
    counts = np.zeros(NUM_ACTIONS, dtype=np.int64)
    for e in range(episodes):
        world_seed = seed + e
        frames = env.reset(seed=world_seed)
        policy = make(e, world_seed)
        total = np.zeros(players)
        while env.alive[0].any():
            obs = env.policy_observation(0, frames=frames[0][env.alive[0]])
            actions = np.zeros((1, players), dtype=np.int64)
            chosen = policy.act(obs)
            actions[0, obs.agents] = chosen
            counts += np.bincount(chosen, minlength=NUM_ACTIONS)
            frames, reward, _, _ = env.step(actions)
            total += reward[0]
        rewards.append(total.mean())
        points.append(float(env.worlds[0].score[:players].mean()))
    return {
        "reward": round(float(np.mean(rewards)), 4),
        "reward_sem": round(float(np.std(rewards) / np.sqrt(len(rewards))), 4),
        "score": round(float(np.mean(points)), 4),
        "actions": counts,
    }


def _teacher(episode: int, seed: int, players: int) -> Policy:
    scenario = list(SCENARIOS)[episode % len(SCENARIOS)]
    return ScriptedPolicy(draw_styles(scenario, players, np.random.default_rng([seed, 5])), seed)


def kl(p_counts: NDArray[np.int64], q_counts: NDArray[np.int64], eps: float = 1e-4) -> float:
    """KL(p || q) in nats of two action histograms (q smoothed by ``eps`` so that an action q never takes does
    not make it infinite)."""
    p = p_counts / max(p_counts.sum(), 1)
    q = (q_counts / max(q_counts.sum(), 1) + eps) / (1 + eps * NUM_ACTIONS)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def eval_bc(
    checkpoints: list[str],
    episodes: int = 4,
    players: int = 8,
    steps: int = 400,
    seed: int = 10_000,
    sample: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    if episodes < 1 or players < 1 or steps < 1:
        raise UsageError("episodes, players and steps must be >= 1")
    sizes = {load_bc(path)[0].cfg.resolution for path in checkpoints}
    if len(sizes) > 1:
        raise UsageError(f"the checkpoints were trained on different frame sizes ({sorted(sizes)}); play them apart")
    resolution = sizes.pop() if sizes else 64
    contenders: dict[str, Callable[[int, int], Policy]] = {
        "teacher": lambda e, s: _teacher(e, s, players),
        "random": lambda e, s: RandomPolicy(s),
    }
    for path in checkpoints:
        contenders[str(path)] = lambda e, s, path=path: load_policy(path, sample=sample, seed=s)
    results: dict[str, dict[str, Any]] = {}
    for i, (name, make) in enumerate(contenders.items()):
        results[name] = play(make, episodes, players, steps, seed, resolution)
        if progress is not None:
            progress(i + 1, len(contenders))
    teacher = results["teacher"]
    for r in results.values():
        r["reward_vs_teacher"] = round(r["reward"] / teacher["reward"], 4) if teacher["reward"] else None
        r["kl_teacher_to_policy"] = round(kl(teacher["actions"], r["actions"]), 4)
    for r in results.values():
        r["actions"] = dict(
            zip(ACTION_NAMES, (round(float(x), 4) for x in r["actions"] / r["actions"].sum()), strict=True)
        )
    return {
        "episodes": episodes, "players": players, "steps": steps, "seed": seed, "resolution": resolution,
        "sample": sample, "policies": results,
    }  # fmt: skip
