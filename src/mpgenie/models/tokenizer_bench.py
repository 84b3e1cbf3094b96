"""``mpgenie bench tokenizer``: one tokenizer design trained alone, scored on held-out frames.

The tokenizer caps every frame the world model makes, and a ``train worldmodel`` run spends only its first 15 % of
steps on it, so comparing designs through whole runs costs an hour each. This trains the tokenizer phase alone,
with the trainer's batches, optimiser and gradient clip (:func:`~mpgenie.models.train.sample_batch`,
:func:`~mpgenie.models.train.optimise`; with the same seed the same initial weights and the same frames in the same
order, so after N steps it is the tokenizer a ``train worldmodel`` run has after N steps, up to floating-point
order), and reports the reconstruction PSNR of decode(encode(frame)) at the step counts asked for, with the CPU
seconds spent up to each (the reference design decodes each frame from the true frame before it, as teacher-forced
evaluation does, and also from its tokens alone: ``psnr_intra``).

Scored frames: every ``every``-th frame of every view of the held-out (last) episode of ``holdout`` (default: the
training data's own held-out episode, which the tokenizer does not train on), starting at the second, at most
``frames`` of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpgenie.dataset.reader import MultiplayerVideoDataset
from mpgenie.errors import UsageError
from mpgenie.models.designs import DEFAULT_TOKENIZER
from mpgenie.models.frames import to_tensor
from mpgenie.models.genie import preset
from mpgenie.models.metrics import psnr
from mpgenie.models.tokenizer import Tokenizer
from mpgenie.models.train import load_views, optimise, sample_batch, split_views, tokenizer_loss


def spaced_frames(views: np.ndarray, every: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 3)`` frames from ``(V, T, H, W, 3)`` views: every ``every``-th frame of each view from its second,
    view by view, the first N; and the frame before each."""
    scored, before = views[:, 1::every], views[:, 0:-1:every]
    shape = views.shape[2:]
    return scored.reshape(-1, *shape)[:frames], before.reshape(-1, *shape)[:frames]


@torch.no_grad()
def reconstruction_psnr(
    tokenizer: Tokenizer, frames: np.ndarray, before: np.ndarray | None = None, chunk: int = 64
) -> float:
    """PSNR (dB, pooled over all frames) of decode(encode(frame)), clamped to the image range as eval does;
    ``before``: the frames before them, which the reference design decodes from."""
    tokenizer.eval()
    truth = to_tensor(frames)
    ref = None if before is None else to_tensor(before)
    recon = torch.cat(
        [
            tokenizer.reconstruct(truth[i : i + chunk], None if ref is None else ref[i : i + chunk])
            for i in range(0, len(truth), chunk)
        ]
    )
    tokenizer.train()
    return psnr(recon, truth)


def bench_tokenizer(
    data: str | Path,
    holdout: str | Path | None = None,
    tokenizer: str = DEFAULT_TOKENIZER,
    config: str = "tiny",
    score_at: Sequence[int] = (2000, 4500),
    seed: int = 0,
    every: int = 25,
    frames: int = 128,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``config``'s tokenizer of design ``tokenizer`` for ``max(score_at)`` steps on ``data``; the PSNR on the
    held-out frames at each step count of ``score_at``. ``progress(step, steps, loss)`` after every step."""
    points = sorted(set(score_at))
    if not points or points[0] < 1 or every < 1 or frames < 1:
        raise UsageError("--score-at needs step counts >= 1, and --every and --frames must be >= 1")
    resolution = int(MultiplayerVideoDataset(data).info["resolution"])
    cfg = preset(config, resolution, tokenizer)
    views = load_views(data, cfg.dynamics.max_others)
    train_idx, held_idx = split_views(views.episode_of)
    if holdout is None:
        source = views.frames[held_idx]
    else:
        source = load_views(holdout, cfg.dynamics.max_others, held_out_only=True).frames
    scored, before = spaced_frames(source, every, frames)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Tokenizer(cfg.tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    context, length = cfg.dynamics.context_frames, views.frames.shape[1]
    cpu_start, wall_start = time.process_time(), time.monotonic()
    scores = []
    for step in range(1, points[-1] + 1):
        v, t = sample_batch(rng, train_idx, cfg.batch, context, length)
        loss = tokenizer_loss(model, views.frames, v, t)
        optimise(model, optimizer, loss)
        if progress is not None:
            progress(step, points[-1], float(loss.detach()))
        if step in points:
            cpu, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
            score = {"steps": step, "psnr": round(reconstruction_psnr(model, scored, before), 3)}
            if cfg.tokenizer.reference:
                score["psnr_intra"] = round(reconstruction_psnr(model, scored), 3)
            scores.append(score | {"cpu_s": round(cpu, 1), "wall_s": round(wall, 1)})
    codebook = int(np.prod(cfg.tokenizer.levels))
    return {
        "config": config,
        "tokenizer": cfg.tokenizer.design,
        "params": sum(p.numel() for p in model.parameters()),
        "levels": list(cfg.tokenizer.levels),
        "codebook": codebook,
        "batch": cfg.batch,
        "threads": torch.get_num_threads(),
        "scored_frames": len(scored),
        "scores": scores,
    }
