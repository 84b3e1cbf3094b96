"""``mpgenie train idm``, ``mpgenie eval idm`` and ``mpgenie bench idm`` (the labelled-budget sweep).

Training reads the training episodes of a labelled dataset (all but the held-out last quarter, models/vpt.py),
keeps ``--labelled-hours`` hours of player video of them (VPT's scaling study varies exactly this budget) and fits
the IDM on random windows. Evaluation labels every frame of the held-out episodes (of the dataset the checkpoint
was trained on; any other dataset is held out as a whole) and reports accuracy, per-action precision and recall,
and the confusion matrix as a PNG: row = true action, column = predicted, brightness = share of the row.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from numpy.typing import NDArray

from mpgenie.dataset.format import episode_dir
from mpgenie.errors import UsageError
from mpgenie.models.checkpoint import load_model, save_payload
from mpgenie.models.frames import to_tensor
from mpgenie.models.idm import OBSERVER_WINDOW, IDMConfig, InverseDynamicsModel, window_indices
from mpgenie.models.vpt import PlayerViews, budget_views, describe, episode_indices, fit, load_views, split_episodes
from mpgenie.render.png import write_png
from mpgenie.world.actions import ACTION_NAMES, NUM_ACTIONS, Action


@dataclass(frozen=True, slots=True, kw_only=True)
class IDMTrainConfig:
    data: str | Path
    out: str | Path
    labelled_hours: float
    steps: int = 1500
    context: int = 2
    observers: int = 0
    device: str = "cpu"
    seed: int = 0
    time_limit: float | None = None


def check_device(name: str) -> str:
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: PyTorch sees no CUDA device here")
    return name


def batch_inputs(
    views: PlayerViews, v: NDArray[np.int64], t: NDArray[np.int64], cfg: IDMConfig, device: str
) -> tuple[torch.Tensor, ...]:
    """The model's inputs for the windows centred on frames ``t`` of views ``v``."""
    length = views.frames.shape[1]
    x = to_tensor(views.frames[v[:, None], window_indices(length, t, cfg.context)]).to(device)
    if not cfg.observers or views.observers is None or views.pose is None:
        return (x,)
    who = views.observers[v, t]  # (B, M)
    mask = who >= 0
    near = np.clip(t[:, None, None] + np.arange(-1, OBSERVER_WINDOW - 1)[None, None], 0, length - 1)
    seen = views.frames[np.maximum(who, 0)[..., None], np.broadcast_to(near, (*who.shape, OBSERVER_WINDOW))]
    seen[~mask] = 0
    pose = torch.from_numpy(views.pose[v, t]).to(device)
    return x, to_tensor(seen).to(device), pose, torch.from_numpy(mask).to(device)


def train_idm(config: IDMTrainConfig, progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    device = check_device(config.device)
    if config.observers < 0 or config.context < 0:
        raise UsageError("--observers and --context must be >= 0")
    indices = episode_indices(config.data)
    train_eps, held_eps = split_episodes(indices)
    views = load_views(config.data, train_eps, "true", config.observers)
    subjects = budget_views(views, config.labelled_hours, config.seed)  # the labelled views
    if config.observers == 0:
        views, subjects = views.subset(subjects), np.arange(subjects.size)
    # With observers every training view stays loaded, as the unlabelled video the observers' frames come from: the
    # budget counts the labels trained on, not the pixels looked at.
    cfg = IDMConfig(resolution=int(views.frames.shape[2]), context=config.context, observers=config.observers)
    model = InverseDynamicsModel(cfg).to(device)
    length = views.frames.shape[1]

    def batch_loss(rng: np.random.Generator) -> torch.Tensor:
        v = rng.choice(subjects, size=cfg.batch)
        t = rng.integers(0, length, size=cfg.batch)
        y = torch.from_numpy(views.labels[v, t]).to(device)
        return model.loss(model(*batch_inputs(views, v, t, cfg, device)), y)

    result = fit(
        model,
        batch_loss,
        steps=config.steps,
        lr=cfg.lr,
        seed=config.seed,
        time_limit=config.time_limit,
        progress=progress,
    )
    labelled = views.subset(subjects)
    payload = {
        "kind": "idm",
        "config": cfg.to_dict(),
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        "data": str(Path(config.data).resolve()),
        "train_episodes": train_eps,
        "held_out_episodes": held_eps,
        "labelled_hours": labelled.hours,
        "steps": result.steps,
        "seconds": result.seconds,
        "history": result.history,
    }
    save_payload(config.out, payload)
    return {
        "checkpoint": str(config.out),
        "labelled": describe(labelled),
        "held_out_episodes": held_eps,
        "steps": result.steps,
        "stopped_by_time_limit": result.stopped_by_time_limit,
        "seconds": round(result.seconds, 1),
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "device": device,
    }


def load_idm(path: str | Path, device: str = "cpu") -> tuple[InverseDynamicsModel, dict[str, Any]]:
    model, payload = load_model(path, "idm", lambda config: InverseDynamicsModel(IDMConfig.from_dict(config)))
    return model.to(device), payload


@torch.no_grad()
def predict_views(
    model: InverseDynamicsModel, views: PlayerViews, device: str = "cpu", chunk: int = 256
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Predicted actions and confidences (V, T) for every frame of every view (observers included when the model
    uses them)."""
    n, length = views.frames.shape[:2]
    pred = np.zeros((n, length), dtype=np.int64)
    conf = np.zeros((n, length), dtype=np.float32)
    for v in range(n):
        for start in range(0, length, chunk):
            t = np.arange(start, min(start + chunk, length))
            p = torch.softmax(model(*batch_inputs(views, np.full(t.size, v), t, model.cfg, device)), 1).cpu()
            c, best = p.max(dim=1)
            pred[v, t], conf[v, t] = best.numpy(), c.numpy()
    return pred, conf


def confusion(truth: NDArray[np.int64], pred: NDArray[np.int64]) -> NDArray[np.int64]:
    """(10, 10) counts: row = true action, column = predicted."""
    return np.bincount(truth.ravel() * NUM_ACTIONS + pred.ravel(), minlength=NUM_ACTIONS**2).reshape(
        NUM_ACTIONS, NUM_ACTIONS
    )


def scores(matrix: NDArray[np.int64]) -> dict[str, Any]:
    """Accuracy and per-action precision / recall / support of a confusion matrix (None where undefined)."""
    total = int(matrix.sum())
    diag = np.diag(matrix)
    per: dict[str, dict[str, float | int | None]] = {}
    for a, name in enumerate(ACTION_NAMES):
        predicted, actual = int(matrix[:, a].sum()), int(matrix[a].sum())
        per[name] = {
            "precision": round(float(diag[a]) / predicted, 4) if predicted else None,
            "recall": round(float(diag[a]) / actual, 4) if actual else None,
            "support": actual,
        }
    return {"accuracy": round(float(diag.sum()) / total, 4) if total else None, "per_action": per}


def write_confusion_png(path: str | Path, matrix: NDArray[np.int64], cell: int = 24) -> Path:
    """Rows true, columns predicted, brightness the share of the row (white = all of it); atomic."""
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.where(rows > 0, matrix / np.maximum(rows, 1), 0.0)
    img = np.kron(255 * share, np.ones((cell, cell)))[..., None].repeat(3, axis=2)
    img[:, :, 2] = np.maximum(img[:, :, 2], 40)  # a blue tint: empty cells are visible against the page
    for i in range(NUM_ACTIONS + 1):  # grid lines
        img[min(i * cell, img.shape[0] - 1), :] = 128
        img[:, min(i * cell, img.shape[1] - 1)] = 128
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    write_png(tmp, img.astype(np.uint8))
    os.replace(tmp, path)
    return path


def visible_effects(root: str | Path, views: PlayerViews) -> NDArray[np.bool_]:
    """(V, T): where an attack or an interaction did something anyone could see — the attack hit someone (an
    ``attack`` event of that agent at that frame) or the agent helped light a beacon (a ``beacon`` event with it
    among the participants). Elsewhere these two actions change nothing in the world: the state after them, and
    so every frame, is the one a noop would have made, and no IDM, however good, can tell them from a noop."""
    effect = np.zeros(views.labels.shape, dtype=bool)
    row = {(int(e), int(a)): v for v, (e, a) in enumerate(zip(views.episode_of, views.agent_of, strict=True))}
    for e in sorted({int(x) for x in views.episode_of}):
        table = pq.read_table(episode_dir(Path(root), e) / "events.parquet").to_pylist()
        for ev in table:
            frame = int(ev["frame_index"])
            if frame >= effect.shape[1]:
                continue
            who = [ev["agent"]] if ev["kind"] == "attack" else ev["participants"] if ev["kind"] == "beacon" else []
            for a in who or []:
                if (e, int(a)) in row:
                    effect[row[(e, int(a))], frame] = True
    return effect


def _invisible_share(truth: NDArray[np.int64], effect: NDArray[np.bool_]) -> float:
    return float((np.isin(truth, (Action.ATTACK, Action.INTERACT)) & ~effect).mean())


def merged_accuracy(truth: NDArray[np.int64], pred: NDArray[np.int64], effect: NDArray[np.bool_]) -> float:
    """Accuracy when the actions no frame can tell apart count as one: a noop, an attack that hit nobody and an
    interaction that lit nothing are all "nothing happened", and any of the three predicted for one is right."""
    quiet = (Action.NOOP, Action.ATTACK, Action.INTERACT)
    invisible = np.isin(truth, quiet) & ~effect
    right = (pred == truth) | (invisible & np.isin(pred, quiet))
    return round(float(right.mean()), 4) if right.size else float("nan")


def eval_idm(
    checkpoint: str | Path, data: str | Path, confusion_png: str | Path | None = None, device: str = "cpu"
) -> dict[str, Any]:
    device = check_device(device)
    model, payload = load_idm(checkpoint, device)
    indices = episode_indices(data)
    same = Path(data).resolve() == Path(payload["data"])
    episodes = [e for e in payload["held_out_episodes"] if e in indices] if same else indices
    views = load_views(data, episodes, "true", model.cfg.observers)
    pred, conf = predict_views(model, views, device)
    matrix = confusion(views.labels, pred)
    effect = visible_effects(data, views)
    result = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "held_out": describe(views),
        "held_out_of": "the checkpoint's held-out episodes" if same else "the whole dataset (not trained on)",
        "labelled_hours": round(float(payload["labelled_hours"]), 4),
        "observers": model.cfg.observers,
        **scores(matrix),
        "mean_confidence": round(float(conf.mean()), 4),
        # The ceiling no frame can lift: attack / interact without an effect are a noop's frames exactly.
        "share_invisible_attack_interact": round(_invisible_share(views.labels, effect), 4),
        "accuracy_invisible_merged": merged_accuracy(views.labels, pred, effect),
        "confusion": matrix.tolist(),
        "actions": list(ACTION_NAMES),
    }
    if views.observers is not None:  # the multiplayer question: does it help where someone else sees you?
        seen = (views.observers >= 0).any(axis=2)
        result["accuracy_seen_by_others"] = scores(confusion(views.labels[seen], pred[seen]))["accuracy"]
        result["share_seen_by_others"] = round(float(seen.mean()), 4)
    if confusion_png is not None:
        result["confusion_png"] = str(write_confusion_png(confusion_png, matrix))
    return result


def sweep_idm(
    config: IDMTrainConfig, budgets: list[float], progress: Callable[[int, int, float], None] | None = None
) -> dict[str, Any]:
    """Accuracy vs labelled hours: one IDM per budget (``config.out`` is a directory of ``idm_{hours}h.pt``)."""
    if len(budgets) < 1 or any(b <= 0 for b in budgets):
        raise UsageError("--budgets must be positive hours, e.g. 0.02,0.05,0.1")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for hours in sorted(budgets):
        ckpt = out / f"idm_{hours:g}h.pt"
        trained = train_idm(replace(config, out=ckpt, labelled_hours=hours), progress)
        scored = eval_idm(ckpt, config.data, out / f"idm_{hours:g}h.confusion.png", config.device)
        rows.append(
            {
                "labelled_hours": trained["labelled"]["hours"],
                "labelled_frames": trained["labelled"]["frames"],
                "accuracy": scored["accuracy"],
                "train_seconds": trained["seconds"],
                "steps": trained["steps"],
                "checkpoint": str(ckpt),
            }
        )
    return {"data": str(config.data), "observers": config.observers, "budgets": rows}
