"""``mpgenie train bc`` and ``mpgenie eval bc``: behavioural cloning on (pseudo-)labels and the policies' play.

Training pairs the frames a player had seen before row t with row t's label (models/bc.py explains the timing),
from ``pseudo_action`` (``--labels pseudo``, written by ``mpgenie label``) or from the recorded ``action``
(``--labels true``: the upper baseline VPT could not have). With ``--state`` (the default) the policy also reads
its own state vector, rebuilt from the recorded state without the actions (:mod:`mpgenie.dataset.states`; the
attack cooldown from the same labels it learns). All episodes are used; the evaluation is play, not a held-out
split.

Evaluation plays the pixel environment (:class:`~mpgenie.agents.vector.VectorSnowball`, fresh world seeds no
dataset was recorded with): every policy named, the scripted teacher that generated the data (``--teacher``:
by default the one the first checkpoint's episodes name in their episode.json — one style for ``--agents
scripted:STYLE``, else the styles drawn per episode from the scenario templates in turn, as ``mpgenie generate``
does) and a uniformly random policy as the floor, on the same worlds. It reports the task reward (the
environment's ``mixed`` reward scenario) and the score (points) per agent and episode, and the KL divergence of
each policy's action distribution from the teacher's, KL(teacher || policy), over all agent-ticks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mpgenie.agents.config import EnvConfig
from mpgenie.agents.interface import Observation, Policy
from mpgenie.agents.policy import SCENARIOS, STYLE_NAMES, ScriptedPolicy, draw_styles, scripted_policy
from mpgenie.agents.vector import VectorSnowball
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.reader import MultiplayerVideoDataset
from mpgenie.dataset.states import recorded_state_vectors
from mpgenie.errors import UsageError
from mpgenie.models.bc import STATE_ENV, BCConfig, BCNet, load_bc, load_policy, past_indices, policy_state
from mpgenie.models.checkpoint import save_payload
from mpgenie.models.frames import to_tensor
from mpgenie.models.idm_train import check_device
from mpgenie.models.vpt import PlayerViews, describe, episode_indices, fit, load_views
from mpgenie.world.actions import ACTION_NAMES, NUM_ACTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class BCTrainConfig:
    data: str | Path
    out: str | Path
    labels: str = "pseudo"  # pseudo (mpgenie label) or true (the recorded actions)
    steps: int = 2000
    history: int = 4
    state: bool = True  # read the own state vector beside the frames
    device: str = "cpu"
    seed: int = 0
    time_limit: float | None = None


def train_bc(config: BCTrainConfig, progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    device = check_device(config.device)
    if config.history < 1:
        raise UsageError("--history must be >= 1")
    views = load_views(config.data, episode_indices(config.data), config.labels)
    states = view_states(config.data, views, EnvConfig(**STATE_ENV)) if config.state else None
    cfg = BCConfig(
        resolution=int(views.frames.shape[2]),
        history=config.history,
        state=int(states.shape[2]) if states is not None else 0,
        state_env=dict(STATE_ENV) if states is not None else {},
    )
    model = BCNet(cfg).to(device)
    n, length = views.frames.shape[:2]

    def batch_loss(rng: np.random.Generator) -> torch.Tensor:
        v = rng.integers(0, n, size=cfg.batch)
        t = rng.integers(1, length, size=cfg.batch)  # row 0 was decided before any frame was seen
        x = to_tensor(views.frames[v[:, None], past_indices(t, cfg.history)]).to(device)
        s = torch.from_numpy(states[v, t - 1]).to(device) if states is not None else None  # after row t-1
        return model.loss(model(x, s), torch.from_numpy(views.labels[v, t]).to(device))

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
        "state": cfg.state,
        "device": device,
    }


def view_states(root: str | Path, views: PlayerViews, env: EnvConfig) -> NDArray[np.float32]:
    """(V, T, D) each view's player's state vector after each row, as BC reads it (:func:`policy_state`),
    rebuilt from the recording with ``views.labels`` as the attacks."""
    count, length = views.labels.shape
    out: NDArray[np.float32] | None = None
    for e in np.unique(views.episode_of).tolist():
        idx = np.flatnonzero(views.episode_of == e)
        d = episode_dir(Path(root), e)
        rows = int(json.loads((d / "episode.json").read_text())["num_frames"])
        attacks = np.zeros((rows, int(views.agent_of[idx].max()) + 1), dtype=np.int64)
        attacks[:length, views.agent_of[idx]] = views.labels[idx].T
        vectors = recorded_state_vectors(d, env, attacks)
        if out is None:
            out = np.zeros((count, length, vectors.shape[2]), dtype=np.float32)
        out[idx] = vectors[:length, views.agent_of[idx]].transpose(1, 0, 2)
    assert out is not None
    return policy_state(out)


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


TEACHERS = ["scenarios", *STYLE_NAMES]


def _teacher(episode: int, seed: int, players: int, teacher: str = "scenarios") -> Policy:
    if teacher != "scenarios":
        return scripted_policy(teacher, players, seed)
    scenario = list(SCENARIOS)[episode % len(SCENARIOS)]
    return ScriptedPolicy(draw_styles(scenario, players, np.random.default_rng([seed, 5])), seed)


def teacher_of(checkpoint: str | Path) -> str:
    """The scripted teacher that generated a BC checkpoint's training data, from its episodes' ``agents``
    (episode.json): ``scenarios`` (the templates in turn) or one style (``--agents scripted:STYLE``)."""
    data = Path(str(load_bc(checkpoint)[1].get("data", "")))
    try:
        ds = MultiplayerVideoDataset(data)
        agents = {str(ds.episode(int(ep["episode_index"])).get("agents", "scripted")) for ep in ds.episodes}
    except (OSError, ValueError):
        raise UsageError(f"cannot read {data}, the checkpoint's data: name the teacher with --teacher") from None
    if agents == {"scripted"}:
        return "scenarios"
    if len(agents) == 1 and (one := agents.pop()).startswith("scripted:"):
        return one.split(":", 1)[1]
    raise UsageError(f"{data} was not made by one scripted teacher ({sorted(agents)}): name one with --teacher")


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
    teacher: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    if episodes < 1 or players < 1 or steps < 1:
        raise UsageError("episodes, players and steps must be >= 1")
    if teacher == "auto":
        teacher = teacher_of(checkpoints[0]) if checkpoints else "scenarios"
    if teacher not in TEACHERS:
        raise UsageError(f"unknown teacher {teacher!r} (known: auto, {', '.join(TEACHERS)})")
    sizes = {load_bc(path)[0].cfg.resolution for path in checkpoints}
    if len(sizes) > 1:
        raise UsageError(f"the checkpoints were trained on different frame sizes ({sorted(sizes)}); play them apart")
    resolution = sizes.pop() if sizes else 64
    contenders: dict[str, Callable[[int, int], Policy]] = {
        "teacher": lambda e, s: _teacher(e, s, players, teacher),
        "random": lambda e, s: RandomPolicy(s),
    }
    for path in checkpoints:
        contenders[str(path)] = lambda e, s, path=path: load_policy(path, sample=sample, seed=s)
    results: dict[str, dict[str, Any]] = {}
    for i, (name, make) in enumerate(contenders.items()):
        results[name] = play(make, episodes, players, steps, seed, resolution)
        if progress is not None:
            progress(i + 1, len(contenders))
    base = results["teacher"]
    for r in results.values():
        r["reward_vs_teacher"] = round(r["reward"] / base["reward"], 4) if base["reward"] else None
        r["kl_teacher_to_policy"] = round(kl(base["actions"], r["actions"]), 4)
    for r in results.values():
        r["actions"] = dict(
            zip(ACTION_NAMES, (round(float(x), 4) for x in r["actions"] / r["actions"].sum()), strict=True)
        )
    return {
        "episodes": episodes, "players": players, "steps": steps, "seed": seed, "resolution": resolution,
        "sample": sample, "teacher": teacher, "policies": results,
    }  # fmt: skip
