"""Quality control of a dataset: ``mpgenie dataset check DIR`` (exit code 1 when something is wrong).

Per episode: table rows = frames in every video (desynchronised or truncated views), no black frames, no frozen
view (identical frames over a second while that agent moved or turned), no two views identical at one tick (a
duplicated camera). Frames are checked on a sample of ticks (every ``stride``-th, plus runs for freezing).
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


def check_dataset(root: str | Path, stride: int = 1) -> Report:
    root = Path(root)
    report = Report()
    info_path = root / "meta" / "info.json"
    if not info_path.exists():
        report.add(-1, "missing_meta", f"{info_path} does not exist")
        return report
    info = json.loads(info_path.read_text())
    episodes = pq.read_table(root / "meta" / "episodes.parquet").to_pylist()
    if info["totals"]["episodes"] != len(episodes):
        report.add(
            -1, "meta_mismatch", f"info.json says {info['totals']['episodes']} episodes, table has {len(episodes)}"
        )
    fps = int(info.get("fps", 20))
    for ep in episodes:
        e = int(ep["episode_index"])
        report.episodes += 1
        d = episode_dir(root, e)
        meta = json.loads((d / "episode.json").read_text())
        rows = pq.read_table(d / "data.parquet")
        n = rows.num_rows
        if n != meta["num_frames"]:
            report.add(e, "row_count", f"{n} rows, episode.json says {meta['num_frames']}")
        position = np.array(rows.column("position").to_pylist(), dtype=np.float32)
        heading = np.array(rows.column("heading").to_pylist(), dtype=np.float32)
        views = []
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
            views.append(frames)
        _duplicates(report, e, views, stride)
        for name in meta.get("cameras", []):
            frames = _decode_all(d / name)
            if frames.shape[0] != n:
                report.add(e, "frame_count", f"{name}: {frames.shape[0]} frames for {n} rows (desynchronised)")
            elif np.any(frames[::stride].reshape(-1, frames[0].size).mean(axis=1) < BLACK_MEAN):
                report.add(e, "black", f"{name}: black frames")
    return report


def _frozen(report: Report, e: int, a: int, frames: np.ndarray, pos: np.ndarray, fwd: np.ndarray, fps: int) -> None:
    diff = np.mean((frames[1:].astype(np.int16) - frames[:-1].astype(np.int16)) ** 2, axis=(1, 2, 3))
    moved = (np.linalg.norm(pos[1:] - pos[:-1], axis=1) > 1e-6) | (np.linalg.norm(fwd[1:] - fwd[:-1], axis=1) > 1e-6)
    stuck = (diff < FROZEN_MSE) & moved
    run = 0
    for i, s in enumerate(stuck):
        run = run + 1 if s else 0
        if run == fps:
            report.add(e, "frozen", f"agent {a}: view unchanged for {fps} frames up to {i + 1} while moving")
            return


def _duplicates(report: Report, e: int, views: list[np.ndarray], stride: int) -> None:
    for i in range(len(views)):
        for j in range(i + 1, len(views)):
            a, b = views[i][::stride].astype(np.int16), views[j][::stride].astype(np.int16)
            same = np.mean((a - b) ** 2, axis=(1, 2, 3)) < DUPLICATE_MSE  # equal up to compression noise
            if same.mean() > 0.5:
                report.add(e, "duplicate_views", f"agents {i} and {j} show identical frames at {int(same.sum())} ticks")
