"""The inverse dynamics model (IDM) of VPT: non-causal, it sees frames t-k .. t+k of one player's first-person video
and names the action applied at tick t (one of the 10 of :mod:`mpgenie.world.actions`).

Frame i of a dataset shows the state after the action of row i, so the transition into frame t (t-1 -> t) shows the
action of row t; the frames after it help because players hold actions for a few ticks and because some effects
(a jump's arc, a knock-back) take more than one tick to show. A model that may look into the future is much
easier to train than a policy, which is VPT's point: a small labelled set trains the IDM, the IDM labels a large
unlabelled set, and behavioural cloning learns from those labels (models/bc.py).

Multiplayer option (``observers > 0``): the views of up to M other players who have the subject in their field of
view at t are added, each as its frames t-1, t, t+1 and the subject's pose relative to that observer at t (forward
and right in metres over 30, the sine and cosine of the subject's heading in the observer's frame) from the
dataset table. An attack or an interaction changes little in one's own view; another player may see the arm move
the world does not draw, but a knock-back or a beacon lighting up, from outside. Observer features are averaged
over the observers present (zero observers: a learned "nobody sees it" vector), so M is an upper bound, not a
shape the data must fill.

``predict_actions(frames)`` is the small wrapper VPT's IDM agent has: a whole video in, an action and its
confidence per frame out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from mpgenie.models.frames import to_tensor
from mpgenie.models.framestack import FrameStackEncoder
from mpgenie.world.actions import NUM_ACTIONS

POSE_FEATURES = 4  # forward / 30 m, right / 30 m, sin and cos of the subject's heading in the observer's frame
OBSERVER_WINDOW = 3  # an observer's frames t-1, t, t+1


@dataclass(frozen=True)
class IDMConfig:
    resolution: int = 64
    context: int = 2  # k: frames t-k .. t+k
    channels: int = 32
    features: int = 256
    observers: int = 0  # M: other players' views of the subject (0: the own view only)
    lr: float = 1e-3
    batch: int = 64

    @property
    def window(self) -> int:
        return 2 * self.context + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> IDMConfig:
        return IDMConfig(**d)


class InverseDynamicsModel(nn.Module):
    def __init__(self, cfg: IDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.own = FrameStackEncoder(cfg.window, cfg.resolution, cfg.channels, cfg.features)
        width = cfg.features
        if cfg.observers:
            self.seen = FrameStackEncoder(OBSERVER_WINDOW, cfg.resolution, cfg.channels // 2, cfg.features // 2)
            self.pose = nn.Linear(POSE_FEATURES, cfg.features // 2)
            self.nobody = nn.Parameter(torch.zeros(cfg.features // 2))
            width += cfg.features // 2
        self.head = nn.Sequential(nn.Linear(width, cfg.features), nn.GELU(), nn.Linear(cfg.features, NUM_ACTIONS))

    def forward(
        self,
        frames: torch.Tensor,
        observer_frames: torch.Tensor | None = None,
        observer_pose: torch.Tensor | None = None,
        observer_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, 10) of the action at the window's centre. ``frames`` (B, 2k+1, 3, H, W) in [-1, 1]; with
        observers: ``observer_frames`` (B, M, 3, 3, H, W), ``observer_pose`` (B, M, 4), ``observer_mask`` (B, M)."""
        h = self.own(frames)
        if self.cfg.observers:
            b = frames.shape[0]
            if observer_frames is None or observer_pose is None or observer_mask is None:
                seen = self.nobody.expand(b, -1)
            else:
                m = observer_frames.shape[1]
                z = self.seen(observer_frames.flatten(0, 1)).view(b, m, -1) + self.pose(observer_pose)
                w = observer_mask.float()[..., None]
                count = w.sum(1)
                seen = torch.where(count > 0, (z * w).sum(1) / count.clamp(min=1), self.nobody.expand(b, -1))
            h = torch.cat([h, seen], dim=1)
        return self.head(h)  # type: ignore[no-any-return]

    def loss(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, actions)


def window_indices(length: int, centres: NDArray[np.int64], context: int) -> NDArray[np.int64]:
    """Frame indices (N, 2k+1) of the windows around ``centres``, clamped to the video (the first and last frames
    repeat at the ends, so every frame gets a label)."""
    return np.clip(centres[:, None] + np.arange(-context, context + 1), 0, length - 1)


@torch.no_grad()
def predict_actions(
    model: InverseDynamicsModel, frames: NDArray[np.uint8], chunk: int = 256, device: str = "cpu"
) -> tuple[NDArray[np.int8], NDArray[np.float32]]:
    """One player's video (T, H, W, 3) uint8 -> the action (T,) and its softmax probability (T,) at every frame:
    VPT's IDM agent in one call (own view only; observers are the trainer's business)."""
    model.eval()
    length = frames.shape[0]
    actions = np.zeros(length, dtype=np.int8)
    confidence = np.zeros(length, dtype=np.float32)
    for start in range(0, length, chunk):
        centres = np.arange(start, min(start + chunk, length))
        x = to_tensor(frames[window_indices(length, centres, model.cfg.context)]).to(device)
        p = torch.softmax(model(x), dim=1).float().cpu()
        conf, best = p.max(dim=1)
        actions[centres] = best.numpy().astype(np.int8)
        confidence[centres] = conf.numpy()
    return actions, confidence
