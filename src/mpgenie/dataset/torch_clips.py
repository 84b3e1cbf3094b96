"""An optional PyTorch view of a dataset (extra ``learn``): fixed-length synchronized clips as tensors.

Item ``i`` is one clip: ``frames`` (agents, length, 3, H, W) uint8, ``action`` (length, agents) int64,
``position``/``heading`` (length, agents, 3) float32. Clips are decoded on demand (memory is bounded by the batch),
so a ``DataLoader`` with worker processes streams a dataset larger than memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mpgenie.dataset.reader import MultiplayerVideoDataset


class ClipDataset(Dataset[dict[str, Any]]):
    def __init__(self, root: str | Path, length: int, stride: int | None = None) -> None:
        if length < 1:
            raise ValueError("clip length must be >= 1")
        self.data = MultiplayerVideoDataset(root)
        self.length = length
        step = stride or length
        self.index = [
            (int(ep["episode_index"]), start)
            for ep in self.data.episodes
            for start in range(0, int(ep["num_frames"]) - length + 1, step)
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        episode, start = self.index[i]
        clip = self.data.clip(episode, start, self.length)
        return {
            "frames": torch.from_numpy(clip.frames).permute(0, 1, 4, 2, 3).contiguous(),
            "action": torch.from_numpy(clip.action.astype("int64")),
            "position": torch.from_numpy(clip.position),
            "heading": torch.from_numpy(clip.heading),
            "tick": torch.from_numpy(clip.tick),
            "episode": episode,
            "start": start,
        }
