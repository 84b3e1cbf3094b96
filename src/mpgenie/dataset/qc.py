"""Quality control of a dataset: ``mpgenie dataset check DIR`` (exit code 1 when something is wrong).

Per episode: table rows = frames in every video (truncated views), as many videos as agents, no black frames, no
frozen view (identical frames over a second while that agent moved or turned), no two views identical at one tick
(a duplicated camera), and synchronisation: sampled ticks are re-simulated from the episode's metadata and
re-rendered, and each decoded frame must show its own tick (a shifted or swapped view fails). A broken episode
is reported, not fatal to the check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq

from mpgenie.dataset.format import episode_dir
from mpgenie.dataset.replay import rerender

BLACK_MEAN = 8.0
FROZEN_MSE = 0.5
DUPLICATE_MSE = 25.0  # PSNR > 34 dB: one view re-encoded; different views differ by 1,000+


@dataclass
class Report:
    episodes: int = 0
    frames_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, episode: int, kind: str, detail: str) -> None:
        self.problems.append({"episode": episode, "kind": kind, "detail": detail})


def _decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def check_dataset(root: str | Path, stride: int = 1, sync_samples: int = 12) -> Report:
    """Check every episode; ``sync_samples`` ticks per episode are re-simulated and re-rendered from the
    episode's metadata and compared with the decoded frames (0 turns that off)."""
    root = Path(root)
    report = Report()
    info_path = root / "meta" / "info.json"
    if not info_path.exists():
        report.add(-1, "missing_meta", f"{info_path} does not exist")
        return report
    try:
        info = json.loads(info_path.read_text())
        episodes = pq.read_table(root / "meta" / "episodes.parquet").to_pylist()
        total = int(info["totals"]["episodes"])
        fps = int(info.get("fps", 20))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.add(-1, "bad_meta", f"meta/ is not an mpgenie dataset's: {exc}")
        return report
    if total != len(episodes):
        report.add(-1, "meta_mismatch", f"info.json says {total} episodes, table has {len(episodes)}")
    for ep in episodes:
        e = int(ep["episode_index"])
        report.episodes += 1
        try:
            _check_episode(report, episode_dir(root, e), e, fps, stride, sync_samples)
        except (OSError, ValueError, KeyError, av.error.FFmpegError) as exc:  # one broken episode, not the check
            report.add(e, "unreadable", f"{type(exc).__name__}: {exc}")
    return report


def _check_episode(report: Report, d: Path, e: int, fps: int, stride: int, sync_samples: int) -> None:
    meta = json.loads((d / "episode.json").read_text())
    rows = pq.read_table(d / "data.parquet")
    n = rows.num_rows
    if n != meta["num_frames"]:
        report.add(e, "row_count", f"{n} rows, episode.json says {meta['num_frames']}")
    position = np.array(rows.column("position").to_pylist(), dtype=np.float32)
    heading = np.array(rows.column("heading").to_pylist(), dtype=np.float32)
    agents = int(meta["num_agents"])
    if len(meta["videos"]) != agents or position.shape[1:] != (agents, 3):
        report.add(
            e, "agent_count", f"{len(meta['videos'])} videos, {agents} agents, table rows of {position.shape[1]}"
        )
        return
    views: dict[int, np.ndarray] = {}
    for a, name in enumerate(meta["videos"]):
        frames = _decode_all(d / name)
        if frames.shape[0] != n:
            report.add(e, "frame_count", f"agent {a}: {frames.shape[0]} frames for {n} rows (desynchronised)")
            continue
        sample = frames[::stride]
        report.frames_checked += sample.shape[0]
        black = np.flatnonzero(sample.reshape(sample.shape[0], -1).mean(axis=1) < BLACK_MEAN)
        if black.size:
            report.add(e, "black", f"agent {a}: {black.size} black frames, first at {int(black[0]) * stride}")
        _frozen(report, e, a, frames, position[:, a], heading[:, a], fps)
        views[a] = frames
    _duplicates(report, e, views, stride)
    for name in meta.get("cameras", []):
        frames = _decode_all(d / name)
        if frames.shape[0] != n:
            report.add(e, "frame_count", f"{name}: {frames.shape[0]} frames for {n} rows (desynchronised)")
        elif np.any(frames[::stride].reshape(-1, frames[0].size).mean(axis=1) < BLACK_MEAN):
            report.add(e, "black", f"{name}: black frames")
    if sync_samples and len(views) == agents:  # replay needs only the world config and the recorded actions
        tiers = np.array(rows.column("view_tier").to_pylist()) if "view_tier" in rows.column_names else None
        actions = np.array(rows.column("action").to_pylist(), dtype=np.int8)  # the table read above, not again
        _sync(report, e, meta, actions, views, tiers, sync_samples)


NEIGHBOUR_MARGIN_DB = 1.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _sync(
    report: Report,
    e: int,
    meta: dict[str, Any],
    actions: np.ndarray,
    views: dict[int, np.ndarray],
    tiers: np.ndarray | None,
    k: int,
) -> None:
    """Re-simulate the episode from its recorded actions and re-render sampled ticks: each decoded frame must show
    its own tick (and not a neighbouring one, where neighbours look different)."""
    n = int(meta["num_frames"])
    picks = set(np.linspace(1, max(1, n - 3), min(k, n)).astype(int).tolist())
    wanted = {g for f in picks for g in (f - 1, f, f + 1) if 0 <= g < n}
    truth = rerender(meta, actions, wanted)
    for f in sorted(picks):
        for a, frames in views.items():
            if tiers is not None and tiers[f, a] != 0:
                continue  # reduced or held views are approximations by design (view_tier says so)
            own = _psnr(frames[f], truth[f][a])
            neighbours = [truth[g][a] for g in (f - 1, f + 1) if g in truth]
            distinct = [t for t in neighbours if _psnr(truth[f][a], t) < 32.0]
            # A frame of the wrong tick matches that tick's render by several dB more than its own; within a dB the
            # lossy codec's noise decides (seen once in a CI run: own 30.9 dB), which is no evidence of a desync.
            if own < 28.0 or any(_psnr(frames[f], t) > own + NEIGHBOUR_MARGIN_DB for t in distinct):
                report.add(e, "desync", f"agent {a}: frame {f} does not show tick {f} (PSNR {own:.1f} dB)")
                return


def _frozen(report: Report, e: int, a: int, frames: np.ndarray, pos: np.ndarray, fwd: np.ndarray, fps: int) -> None:
    diff = np.mean((frames[1:].astype(np.float32) - frames[:-1].astype(np.float32)) ** 2, axis=(1, 2, 3))
    moved = (np.linalg.norm(pos[1:] - pos[:-1], axis=1) > 1e-6) | (np.linalg.norm(fwd[1:] - fwd[:-1], axis=1) > 1e-6)
    stuck = (diff < FROZEN_MSE) & moved
    run = 0
    for i, s in enumerate(stuck):
        run = run + 1 if s else 0
        if run == fps:
            report.add(e, "frozen", f"agent {a}: view unchanged for {fps} frames up to {i + 1} while moving")
            return


def _duplicates(report: Report, e: int, views: dict[int, np.ndarray], stride: int) -> None:
    agents = sorted(views)
    for x, i in enumerate(agents):
        for j in agents[x + 1 :]:
            a, b = views[i][::stride].astype(np.float32), views[j][::stride].astype(np.float32)
            same = np.mean((a - b) ** 2, axis=(1, 2, 3)) < DUPLICATE_MSE  # equal up to compression noise
            if same.mean() > 0.5:
                report.add(e, "duplicate_views", f"agents {i} and {j} show identical frames at {int(same.sum())} ticks")
