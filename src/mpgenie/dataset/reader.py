"""Read a dataset back: random access to synchronized multi-view clips as NumPy arrays, memory bounded by the
clip (frames are decoded from the nearest keyframe, one second apart, and nothing else is kept)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq

from mpgenie.dataset.format import episode_dir, video_name


@dataclass(frozen=True, slots=True)
class Clip:
    episode: int
    start: int
    frames: np.ndarray  # (agents, length, H, W, 3) uint8
    action: np.ndarray  # (length, agents) int8
    position: np.ndarray  # (length, agents, 3) float32
    heading: np.ndarray  # (length, agents, 3) float32
    tick: np.ndarray  # (length,) int64
    events: list[dict[str, Any]]
    height: np.ndarray | None = None  # (length, agents) float32
    score: np.ndarray | None = None  # (length, agents) int32
    view_tier: np.ndarray | None = None  # (length, agents) int8
    cameras: np.ndarray | None = None  # (cameras, length, H, W, 3) uint8, when asked for


def decode_frames(path: Path, start: int, length: int) -> np.ndarray:
    """Frames ``start .. start+length-1`` of one video as (length, H, W, 3) uint8."""
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 20)
        if start > 0:  # jump to the keyframe at or before the start (time in stream units)
            container.seek(int(start / fps / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            index = round(float(frame.pts * stream.time_base) * fps) if frame.pts is not None else len(out)
            if index < start:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == length:
                break
    if len(out) != length:
        raise ValueError(f"{path} has no frames {start}..{start + length - 1}")
    return np.stack(out)


class MultiplayerVideoDataset:
    """A dataset directory: ``len(ds)`` episodes; ``ds.clip(e, start, length)`` returns a :class:`Clip`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.info = json.loads((self.root / "meta" / "info.json").read_text())
        self.episodes = pq.read_table(self.root / "meta" / "episodes.parquet").to_pylist()

    def __len__(self) -> int:
        return len(self.episodes)

    def episode(self, index: int) -> dict[str, Any]:
        return json.loads((episode_dir(self.root, index) / "episode.json").read_text())

    def clip(
        self, episode: int, start: int, length: int, agents: list[int] | None = None, cameras: bool = False
    ) -> Clip:
        meta = self.episode(episode)
        if not (start >= 0 and length >= 1 and start + length <= meta["num_frames"]):
            raise ValueError(f"episode {episode} has {meta['num_frames']} frames; asked {start}+{length}")
        agents = list(range(meta["num_agents"])) if agents is None else agents
        d = episode_dir(self.root, episode)
        frames = np.stack([decode_frames(d / video_name(a), start, length) for a in agents])
        rows = pq.read_table(d / "data.parquet").slice(start, length)
        action = np.array(rows.column("action").to_pylist(), dtype=np.int8)[:, agents]
        position = np.array(rows.column("position").to_pylist(), dtype=np.float32)[:, agents]
        heading = np.array(rows.column("heading").to_pylist(), dtype=np.float32)[:, agents]
        events = [
            e
            for e in pq.read_table(d / "events.parquet").to_pylist()
            if e["frame_index"] <= start + length - 1 and e["end_frame"] >= start
        ]
        tick = np.array(rows.column("tick").to_pylist(), dtype=np.int64)
        height = np.array(rows.column("height").to_pylist(), dtype=np.float32)[:, agents]
        score = np.array(rows.column("score").to_pylist(), dtype=np.int32)[:, agents]
        tiers = (
            np.array(rows.column("view_tier").to_pylist(), dtype=np.int8)[:, agents]
            if "view_tier" in rows.column_names
            else None
        )
        shots = None
        if cameras and meta.get("cameras"):
            shots = np.stack([decode_frames(d / name, start, length) for name in meta["cameras"]])
        return Clip(episode, start, frames, action, position, heading, tick, events, height, score, tiers, shots)
