"""What the VPT pipeline's trainers share (PyTorch, extra ``learn``): every player view of a dataset in memory with
its labels, the held-out split by episode, the labelled budget in hours of player video, the other players who see
a player (the IDM's multiplayer option) and one plain training loop (nanoGPT style) with a time limit.

Labels come from a column of ``data.parquet``: ``action`` (the true actions the generator recorded) or
``pseudo_action`` (written by ``mpgenie label``, with ``pseudo_confidence``); docs/dataset-format.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from numpy.typing import NDArray

from mpgenie.agents.observations import tangent_coordinates
from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.reader import MultiplayerVideoDataset, decode_frames
from mpgenie.errors import UsageError
from mpgenie.models.idm import POSE_FEATURES
from mpgenie.world.geometry import right_of

LABEL_COLUMNS = {"true": "action", "pseudo": "pseudo_action", "none": ""}
HELD_OUT_SHARE = 0.25  # the last quarter of the episodes (at least one) is held out
SCALE_M = 30.0
FOV_DEG = 90.0  # the renderer's default field of view: an observer "sees" a subject inside it and in range


@dataclass
class PlayerViews:
    """Every player view of some episodes: frame t of view v and label t of view v belong to the same tick."""

    frames: NDArray[np.uint8]  # (V, T, H, W, 3)
    labels: NDArray[np.int64]  # (V, T)
    episode_of: NDArray[np.int64]  # (V,)
    agent_of: NDArray[np.int64]  # (V,)
    fps: int
    observers: NDArray[np.int64] | None = None  # (V, T, M) views that see view v's player at t (-1: none)
    pose: NDArray[np.float32] | None = None  # (V, T, M, POSE_FEATURES) that player seen from each observer

    @property
    def hours(self) -> float:
        return float(self.frames.shape[0] * self.frames.shape[1]) / self.fps / 3600.0

    def subset(self, views: NDArray[np.int64]) -> PlayerViews:
        """Some views only (the observers' indices stay valid only within the same subset of whole episodes)."""
        remap = np.full(self.frames.shape[0], -1, dtype=np.int64)
        remap[views] = np.arange(views.size)
        obs = None
        if self.observers is not None:
            obs = np.where(self.observers >= 0, remap[np.maximum(self.observers[views], 0)], -1)
        pose = self.pose[views] if self.pose is not None else None
        return PlayerViews(
            self.frames[views], self.labels[views], self.episode_of[views], self.agent_of[views], self.fps, obs, pose
        )


def episode_indices(root: str | Path) -> list[int]:
    ds = MultiplayerVideoDataset(root)
    indices = sorted(int(ep["episode_index"]) for ep in ds.episodes)
    if not indices:
        raise UsageError(f"{root} has no episodes")
    return indices


def split_episodes(indices: list[int]) -> tuple[list[int], list[int]]:
    """(training, held-out) episodes: the last quarter (at least one) is held out; one episode alone is both."""
    if len(indices) < 2:
        return indices, indices
    held = max(1, round(len(indices) * HELD_OUT_SHARE))
    return indices[:-held], indices[-held:]


def load_views(
    root: str | Path, episodes: list[int], labels: str = "true", observers: int = 0, frames: bool = True
) -> PlayerViews:
    """Every agent view of ``episodes`` with the labels of ``labels`` (``true``, ``pseudo`` or ``none``); with
    ``observers`` > 0 also who sees whom (:func:`observers_of`)."""
    if labels not in LABEL_COLUMNS:
        raise UsageError(f"labels must be {' or '.join(LABEL_COLUMNS)}, got {labels!r}")
    column = LABEL_COLUMNS[labels]
    ds = MultiplayerVideoDataset(root)
    all_frames, all_labels, ep_of, ag_of, all_obs, all_pose = [], [], [], [], [], []
    offset = 0
    for e in episodes:
        meta = ds.episode(e)
        d = episode_dir(Path(root), e)
        schema = pq.read_schema(d / "data.parquet")
        if column and column not in schema.names:
            hint = " (run `mpgenie label` first)" if labels == "pseudo" else ""
            raise UsageError(f"episode {e} of {root} has no {column!r} column{hint}")
        table = pq.read_table(d / "data.parquet", columns=[c for c in (column, "position", "heading") if c])
        n = int(meta["num_frames"])
        acts = (
            np.array(table.column(column).to_pylist(), dtype=np.int64)  # (T, A)
            if column
            else np.zeros((n, len(meta["videos"])), dtype=np.int64)
        )
        for a, name in enumerate(meta["videos"]):
            if frames:
                all_frames.append(decode_frames(d / name, 0, n))
            all_labels.append(acts[:n, a])
            ep_of.append(e)
            ag_of.append(a)
        if observers:
            pos = np.array(table.column("position").to_pylist(), dtype=np.float64)[:n]
            head = np.array(table.column("heading").to_pylist(), dtype=np.float64)[:n]
            radius, within = float(meta["world"]["radius"]), float(meta["world"]["render_distance"])
            obs, pose = observers_of(pos, head, radius, within, observers)
            all_obs.extend(list(np.where(obs >= 0, obs + offset, -1)))
            all_pose.extend(list(pose))
        offset += len(meta["videos"])
    if not all_labels:
        raise UsageError(f"{root} has no episodes to read")
    t = min(x.shape[0] for x in all_labels)
    res = int(ds.info["resolution"])
    stack = np.stack([f[:t] for f in all_frames]) if frames else np.zeros((len(all_labels), t, res, res, 3), np.uint8)
    return PlayerViews(
        stack,
        np.stack([x[:t] for x in all_labels]),
        np.array(ep_of, dtype=np.int64),
        np.array(ag_of, dtype=np.int64),
        int(ds.info.get("fps", 20)),
        np.stack([o[:t] for o in all_obs]) if observers else None,
        np.stack([p[:t] for p in all_pose]) if observers else None,
    )


def observers_of(
    position: NDArray[np.float64], heading: NDArray[np.float64], radius: float, within_m: float, m: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """For one episode's poses (T, A, 3): per subject s and frame t, up to ``m`` other agents that have s inside
    their field of view and render distance at t, nearest first ((A, T, m) agent numbers, -1 none), and s's pose
    in each observer's frame ((A, T, m, 4): forward and right over 30 m, sin and cos of s's relative heading)."""
    frames, agents = position.shape[:2]
    q = np.broadcast_to(position[:, None, :, :], (frames, agents, agents, 3))  # [t, observer, subject]
    fwd, right, dist = tangent_coordinates(position, heading, q, radius)
    angle = np.degrees(np.arctan2(right, fwd))
    seen = (dist <= within_m) & (np.abs(angle) <= FOV_DEG / 2) & ~np.eye(agents, dtype=bool)[None]
    r_obs = right_of(position.reshape(-1, 3), heading.reshape(-1, 3)).reshape(frames, agents, 3)
    cos_h = np.einsum("toc,tsc->tos", heading, heading)
    sin_h = np.einsum("toc,tsc->tos", r_obs, heading)
    score = np.where(seen, -dist, -np.inf)  # nearest observers first
    order = np.argsort(-score, axis=1, kind="stable")[:, :m, :]  # (T, m, subject)
    valid = np.take_along_axis(seen, order, axis=1)
    out = np.where(valid, order, -1).transpose(2, 0, 1)  # (A, T, m)
    pose = np.zeros((agents, frames, m, POSE_FEATURES), dtype=np.float32)
    for k, arr in enumerate((fwd / SCALE_M, right / SCALE_M, sin_h, cos_h)):
        pose[..., k] = (np.take_along_axis(arr, order, axis=1) * valid).transpose(2, 0, 1)
    return out.astype(np.int64), pose


def budget_views(views: PlayerViews, hours: float, seed: int = 0) -> NDArray[np.int64]:
    """The views that make up ``hours`` of labelled player video (whole views, drawn in a seeded order that goes
    round the episodes, so a small budget still covers every scenario); at least one view."""
    if hours <= 0:
        raise UsageError(f"--labelled-hours must be > 0, got {hours}")
    per_view = views.frames.shape[1] / views.fps / 3600.0
    count = int(min(views.frames.shape[0], max(1, round(hours / per_view))))
    rng = np.random.default_rng([seed, 23])
    by_episode = [rng.permutation(np.flatnonzero(views.episode_of == e)) for e in np.unique(views.episode_of)]
    depth = max(len(x) for x in by_episode)
    order = [int(x[i]) for i in range(depth) for x in by_episode if i < len(x)]
    return np.array(sorted(order[:count]), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class FitResult:
    steps: int
    seconds: float
    stopped_by_time_limit: bool
    history: list[dict[str, float]]


def fit(
    model: torch.nn.Module,
    batch_loss: Callable[[np.random.Generator], torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int,
    time_limit: float | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> FitResult:
    """The plain loop: ``steps`` AdamW steps (cosine decay to a tenth) of ``batch_loss(rng)``, or fewer when
    ``time_limit`` seconds have passed; ``progress(step, steps, loss)`` after each step."""
    if steps < 1:
        raise UsageError("steps must be >= 1")
    if time_limit is not None and time_limit <= 0:
        raise UsageError("the time limit must be > 0 seconds")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s / steps, 1))))
    started = time.monotonic()
    history: list[dict[str, float]] = []
    step, out_of_time = 0, False
    model.train()
    for step in range(1, steps + 1):
        loss = batch_loss(rng)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        elapsed = time.monotonic() - started
        out_of_time = time_limit is not None and elapsed >= time_limit
        if step % 10 == 0 or step == steps or out_of_time:
            history.append({"step": step, "loss": value, "seconds": elapsed})
        if progress is not None:
            progress(step, steps, value)
        if out_of_time:
            break
    model.eval()
    return FitResult(step, time.monotonic() - started, out_of_time, history)


def describe(views: PlayerViews) -> dict[str, Any]:
    return {
        "views": int(views.frames.shape[0]),
        "frames": int(views.frames.shape[0] * views.frames.shape[1]),
        "hours": round(views.hours, 4),
        "episodes": sorted({int(e) for e in views.episode_of}),
    }
