"""``mpgenie train worldmodel`` and ``mpgenie eval worldmodel``: a plain loop (the nanoGPT way).

Training runs three phases over one step budget — tokenizer (15 %), latent action model (15 %), dynamics (70 %,
half the batches conditioned on true actions, half on latent actions) — with a checkpoint every
``checkpoint_every`` steps (written atomically; a re-run resumes from it) and the loss curve as CSV and PNG.

Evaluation on held-out views (the last episode): teacher-forced next-frame PSNR and SSIM; autoregressive rollout
PSNR at 4 and 16 frames (true actions); Genie's controllability metric dTPSNR at t=4 — PSNR of a rollout driven
by actions inferred from the ground truth minus PSNR with uniformly random actions (four draws per clip, pooled)
— for latent and for true actions; the latent action model's codes scored against the true actions (purity, mutual
information); and a PNG of rollouts next to the ground truth.
"""

from __future__ import annotations

import csv
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from mpgenie.dataset.format import RESOLUTIONS, episode_dir
from mpgenie.dataset.reader import MultiplayerVideoDataset, decode_frames
from mpgenie.dataset.replay import counterfactual_views, recorded_actions, views_with_and_without_players
from mpgenie.errors import UsageError
from mpgenie.models.checkpoint import load_checkpoint, save_payload
from mpgenie.models.designs import DEFAULT_TOKENIZER
from mpgenie.models.frames import to_frames, to_tensor
from mpgenie.models.genie import TRUE_ACTIONS, Genie, preset
from mpgenie.models.metrics import code_purity, mutual_information, psnr, ssim
from mpgenie.models.player_consistency import player_consistency, player_masks
from mpgenie.models.tokenizer import Tokenizer
from mpgenie.models.visible_players import from_episode
from mpgenie.render.png import write_png

PHASES = (("tokenizer", 0.15), ("lam", 0.15), ("dynamics", 0.7))
RANDOM_DRAWS = 4
# Share of dynamics examples trained without the other players (all-zero rows): the dTPSNR rollouts are made without
# them (see eval_worldmodel), and a backend may have nobody to tell about.
OTHERS_DROPOUT = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """One ``mpgenie train worldmodel`` run, a named field per setting (as the CLI options), where eight arguments in
    a row were easy to misorder. Not checked here: :func:`train_worldmodel` refuses bad values with the messages the
    CLI shows."""

    data: str | Path  # a dataset directory (mpgenie generate)
    out: str | Path  # the checkpoint file, resumed when it exists
    preset: str  # the model size: tiny (CPU), small, base (GPU)
    tokenizer: str = DEFAULT_TOKENIZER  # the tokenizer design (designs.TOKENIZERS)
    steps: int = 3000  # optimisation steps in all (tokenizer, then LAM, then dynamics)
    checkpoint_every: int = 250
    seed: int = 0
    time_limit: float | None = None  # seconds of training, resumed runs included; None: no limit


@dataclass
class Views:
    """Every agent view of a dataset, as the trainer and evaluation read it."""

    frames: np.ndarray  # (V, T, H, W, 3) uint8
    actions: np.ndarray  # (V, T) the action applied at each frame's tick
    others: np.ndarray  # (V, T, K, F) the other players the dynamics is told about (models/visible_players.py)
    episode_of: list[int]  # the episode of each view
    agent_of: list[int]  # the agent whose view it is


def load_views(root: str | Path, max_others: int, held_out_only: bool = False) -> Views:
    """Every agent view of every episode, or of the held-out last one only."""
    ds = MultiplayerVideoDataset(root)
    frames, actions, others, episode_of, agent_of = [], [], [], [], []
    indices = sorted(int(ep["episode_index"]) for ep in ds.episodes)
    for e in indices[-1:] if held_out_only else indices:
        meta = ds.episode(e)
        if "world" not in meta:
            raise UsageError(f"episode {e} of {root} does not record its world config; generate it again")
        d = episode_dir(Path(root), e)
        table = pq.read_table(d / "data.parquet", columns=["action", "position", "heading", "alive"])
        acts = np.array(table.column("action").to_pylist(), dtype=np.int64)
        seen = from_episode(
            np.array(table.column("position").to_pylist(), dtype=np.float64),
            np.array(table.column("heading").to_pylist(), dtype=np.float64),
            acts,
            np.array(table.column("alive").to_pylist(), dtype=bool),
            float(meta["world"]["radius"]),
            float(meta["world"]["render_distance"]),
            max_others,
        )
        for a, name in enumerate(meta["videos"]):
            frames.append(decode_frames(d / name, 0, meta["num_frames"]))
            actions.append(acts[:, a])
            others.append(seen[a])
            episode_of.append(e)
            agent_of.append(a)
    if not frames:
        raise UsageError(f"{root} has no episodes")
    t = min(f.shape[0] for f in frames)
    return Views(
        np.stack([f[:t] for f in frames]),
        np.stack([a[:t] for a in actions]),
        np.stack([o[:t] for o in others]),
        episode_of,
        agent_of,
    )


def split_views(episode_of: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """View indices for training and held out: the last episode's views are held out (all of them train and are
    scored when there is only one episode)."""
    eps = sorted(set(episode_of))
    held = eps[-1] if len(eps) > 1 else None
    idx = np.arange(len(episode_of))
    if held is None:
        return idx, idx
    mask = np.array(episode_of) == held
    return idx[~mask], idx[mask]


def sample_batch(
    rng: np.random.Generator, train_idx: np.ndarray, batch: int, context: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """A training batch's views (drawn with replacement) and frame index ``t`` in each: ``context`` frames before
    it and one after, what the dynamics needs; the tokenizer and latent action phases draw the same way."""
    return rng.choice(train_idx, size=batch), rng.integers(context, length - 1, size=batch)


def tokenizer_loss(model: Tokenizer, frames: np.ndarray, views: np.ndarray, t: np.ndarray) -> torch.Tensor:
    """The tokenizer phase's loss on frame ``t`` of each of ``views`` (and, for the reference design, the frame
    before it, which its decoder draws from): the trainer's and ``bench tokenizer``'s one rule."""
    before = to_tensor(frames[views, t - 1]) if model.cfg.reference else None
    loss, _ = model(to_tensor(frames[views, t]), before)
    return loss


def optimise(module: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step of ``module`` on ``loss``, its gradient norm clipped to 1. Only ``module``'s gradients: an earlier
    phase's last gradients are still attached to its parameters, and counting them in the norm would scale this
    phase's steps down."""
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()


@torch.no_grad()
def encode_views(model: Genie, frames: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Tokens (V, T, g, g) of every frame and the latent action (V, T) of every transition into frame t (0 for
    t = 0), so the dynamics phase does not re-encode the same frames every step."""
    g = model.cfg.dynamics.grid
    views, length = frames.shape[:2]
    tokens = np.zeros((views, length, g, g), dtype=np.int64)
    latent = np.zeros((views, length), dtype=np.int64)
    for v in range(views):
        for start in range(0, length, chunk):
            x = to_tensor(frames[v, max(0, start - 1) : start + chunk])  # one frame of overlap for the transition
            first = 0 if start == 0 else 1
            tokens[v, start : start + chunk] = model.tokenizer.encode(x[first:])[1].numpy()
            latent[v, start + 1 - first : start + chunk] = model.lam.infer(x[:-1], x[1:])[1].numpy()
    return tokens, latent


@torch.no_grad()
def latent_action_scores(
    model: Genie, frames: np.ndarray, actions: np.ndarray, chunk: int = 256
) -> dict[str, float | int]:
    """The latent action model scored against the true actions: its code for every transition t-1 -> t of the
    views against the action recorded at t (the one that made that transition), as purity and mutual
    information (models/metrics.py). A code set that ignores the actions scores the majority share and 0 bits."""
    codes = []
    for v in range(frames.shape[0]):
        for start in range(1, frames.shape[1], chunk):
            x = to_tensor(frames[v, start - 1 : start + chunk])
            codes.append(model.lam.infer(x[:-1], x[1:])[1].numpy())
    latent = np.concatenate(codes)
    true = actions[:, 1:].reshape(-1)
    mi, normalised = mutual_information(latent, true)
    return {
        "lam_purity": round(code_purity(latent, true), 4),
        "lam_majority_share": round(float(np.bincount(true).max() / true.size), 4),
        "lam_mutual_information_bits": round(mi, 4),
        "lam_mi_over_action_entropy": round(normalised, 4),
        "lam_codes_used": int(np.unique(latent).size),
    }


def train_worldmodel(
    config: TrainConfig, progress: Callable[[int, int, str, float], None] | None = None
) -> dict[str, Any]:
    """Train ``out`` up to ``steps`` (resuming it when it exists), or until ``time_limit`` seconds of training have
    passed: counted from this call's start, data loading included, and added to the seconds of earlier runs of the
    same checkpoint, so that "trained for an hour" means the same thing when a run was interrupted and resumed.
    ``progress(step, steps, phase, loss)`` is called after every step."""
    data, steps, checkpoint_every = config.data, config.steps, config.checkpoint_every
    seed, time_limit, name = config.seed, config.time_limit, config.preset
    if steps < 10 or checkpoint_every < 1:
        raise UsageError("steps must be >= 10 and checkpoint_every >= 1")
    if time_limit is not None and time_limit <= 0:
        raise UsageError("the time limit must be > 0 seconds")
    started = time.monotonic()
    resolution = int(MultiplayerVideoDataset(data).info["resolution"])
    if resolution not in RESOLUTIONS:
        raise UsageError(f"unsupported frame size {resolution}")
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if out.exists():  # resume
        model, payload = load_checkpoint(out)
        start, history = int(payload["step"]), list(payload["history"])
        if payload["config"]["name"] != name:
            raise UsageError(f"{out} holds a {payload['config']['name']!r} model, not {name!r}")
        held = model.cfg.tokenizer.design
        if held != config.tokenizer:
            raise UsageError(f"{out} holds a model with the {held} tokenizer, not {config.tokenizer!r}")
    else:
        model, payload, start, history = Genie(preset(name, resolution, config.tokenizer)), {}, 0, []
    started -= float(payload.get("seconds", 0.0))  # earlier runs' training time
    cfg = model.cfg
    views_all = load_views(data, cfg.dynamics.max_others)
    frames, actions, others = views_all.frames, views_all.actions, views_all.others
    train_idx, _ = split_views(views_all.episode_of)
    opts = {
        "tokenizer": torch.optim.AdamW(model.tokenizer.parameters(), lr=cfg.lr),
        "lam": torch.optim.AdamW(model.lam.parameters(), lr=cfg.lr),
        "dynamics": torch.optim.AdamW(model.dynamics.parameters(), lr=cfg.lr * 0.5),
    }
    for name, state in payload.get("optimizers", {}).items():
        opts[name].load_state_dict(state)
    bounds = np.cumsum([0] + [int(steps * share) for _, share in PHASES])
    bounds[-1] = steps
    c = cfg.dynamics.context_frames
    encoded: tuple[np.ndarray, np.ndarray] | None = None  # (tokens, latent actions), made when dynamics starts
    step, out_of_time = start - 1, False
    for step in range(start, steps):
        phase = PHASES[int(np.searchsorted(bounds, step, side="right") - 1)][0]
        views, t = sample_batch(rng, train_idx, cfg.batch, c, frames.shape[1])
        model.train()
        if phase == "tokenizer":
            loss = tokenizer_loss(model.tokenizer, frames, views, t)
        elif phase == "lam":
            loss, _ = model.lam(to_tensor(frames[views, t]), to_tensor(frames[views, t + 1]))
        else:
            if encoded is None:  # the tokenizer and latent action model are final now: encode every frame once
                encoded = encode_views(model.eval(), frames)
                model.train()
            tokens, latent_actions = encoded
            codes = torch.from_numpy(tokens[views[:, None], t[:, None] + np.arange(-c + 1, 2)])  # c past + next
            true = torch.from_numpy(actions[views, t + 1])
            latent = torch.from_numpy(latent_actions[views, t + 1])
            use_true = torch.rand(cfg.batch) < 0.5
            action = torch.where(use_true, true, latent + TRUE_ACTIONS)
            seen = torch.from_numpy(others[views, t + 1])
            seen[torch.rand(cfg.batch) < OTHERS_DROPOUT] = 0.0  # as told "nobody in sight"
            loss = model.dynamics.loss(codes[:, :c], action, codes[:, c], seen)
        optimise(getattr(model, phase), opts[phase], loss)
        value = float(loss.detach())
        elapsed = time.monotonic() - started
        out_of_time = time_limit is not None and elapsed >= time_limit
        if step % 10 == 0 or step == steps - 1 or out_of_time:
            history.append({"step": step, "phase": phase, "loss": value, "seconds": elapsed})
        if progress is not None:
            progress(step + 1, steps, phase, value)
        if (step + 1) % checkpoint_every == 0 or step == steps - 1 or out_of_time:
            save_payload(
                out,
                {
                    "config": cfg.to_dict(),
                    "model": model.state_dict(),
                    "step": step + 1,
                    "seconds": elapsed,
                    "history": history,
                    "optimizers": {k: o.state_dict() for k, o in opts.items()},
                },
            )
        if out_of_time:
            break
    _write_curves(out, history)
    return {
        "checkpoint": str(out),
        "steps": step + 1,
        "config": name,
        "stopped_by_time_limit": out_of_time,
        "final_loss": {p: next((h["loss"] for h in reversed(history) if h["phase"] == p), None) for p, _ in PHASES},
        "seconds": time.monotonic() - started,
    }


def _write_curves(out: Path, history: list[dict[str, Any]]) -> None:
    with open(out.with_suffix(".losses.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "phase", "loss", "seconds"])
        w.writeheader()
        w.writerows(history)
    # A small line chart of log10(loss) per phase (no plotting library needed).
    h, wd = 200, 400
    img = np.full((h, wd, 3), 255, dtype=np.uint8)
    colours = {"tokenizer": (200, 40, 40), "lam": (40, 140, 40), "dynamics": (40, 40, 200)}
    if history:
        steps_max = max(x["step"] for x in history) or 1
        logs = [math.log10(max(x["loss"], 1e-6)) for x in history]
        lo, hi = min(logs), max(logs)
        for x, lg in zip(history, logs, strict=True):
            col = int(x["step"] / steps_max * (wd - 1))
            row = int((hi - lg) / max(hi - lo, 1e-9) * (h - 1))
            img[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2] = colours[x["phase"]]
    write_png(out.with_suffix(".losses.png"), img)


def _consistency(
    meta: dict[str, Any],
    actions: np.ndarray,
    starts: np.ndarray,
    agents: np.ndarray,
    last_seen: torch.Tensor,
    rollout: torch.Tensor,
) -> dict[str, Any]:
    """Multiplayer consistency (models/player_consistency.py) at t=1 and t=4 of the rollouts told the other players,
    and of repeating the last context frame (the baseline), as ``consistency_{model|copy}_{metric}_t{1|4}``."""
    n = len(starts)
    full, empty = views_with_and_without_players(
        meta, actions, np.concatenate([starts - 1, starts, starts + 3]), np.tile(agents, 3)
    )
    mask_last = player_masks(full[:n], empty[:n])
    last = to_frames(last_seen)
    out: dict[str, Any] = {}
    for t, block in ((1, 1), (4, 2)):  # rendered blocks: last context frame, then t=1, then t=4
        rows = slice(block * n, (block + 1) * n)
        for name, pred in (("model", to_frames(rollout[:, t - 1])), ("copy", last)):
            scores = player_consistency(pred, full[rows], empty[rows], last, mask_last)
            out.update({f"consistency_{name}_{metric}_t{t}": value for metric, value in scores.items()})
    return out


def eval_worldmodel(
    checkpoint: str | Path,
    data: str | Path,
    clips: int = 16,
    seed: int = 0,
    preview: str | Path | None = None,
    guidance: float | None = None,
) -> dict[str, Any]:
    model, payload = load_checkpoint(checkpoint)
    if guidance is None:
        guidance = model.cfg.dynamics.guidance
    roll = functools.partial(model.rollout, guidance=guidance)
    model.eval()
    # Only the held-out episode is decoded: the training episodes would be wasted time.
    held_out = load_views(data, model.cfg.dynamics.max_others, held_out_only=True)
    frames, actions = held_out.frames, held_out.actions
    held = np.arange(frames.shape[0])
    c = model.cfg.dynamics.context_frames
    horizon = 16
    if frames.shape[1] < c + horizon + 1:
        raise UsageError(f"episodes need at least {c + horizon + 1} frames for evaluation")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    views = rng.choice(held, size=clips)
    starts = rng.integers(c, frames.shape[1] - horizon, size=clips)
    window = starts[:, None] + np.arange(horizon)  # (clips, horizon) the frames to predict
    ctx = to_tensor(frames[views[:, None], starts[:, None] + np.arange(-c, 0)])
    truth = to_tensor(frames[views[:, None], window])
    true_actions = torch.from_numpy(actions[views[:, None], window])
    others = torch.from_numpy(held_out.others[views[:, None], window])
    with torch.no_grad():
        # Latent actions of the 4 true transitions the rollout needs (last context frame -> truth 0 ... 3), one batch.
        seen = torch.cat([ctx[:, -1:], truth[:, :4]], 1)
        latent = model.lam.infer(seen[:, :-1].flatten(0, 1), seen[:, 1:].flatten(0, 1))[1].view(clips, 4) + TRUE_ACTIONS
        # Random-action rollouts: RANDOM_DRAWS independent draws per clip, pooled, so dTPSNR is not one draw's luck.
        many = ctx.repeat(RANDOM_DRAWS, 1, 1, 1, 1)
        rand_true = torch.randint(0, TRUE_ACTIONS, (many.shape[0], 4))
        rand_latent = torch.randint(0, model.lam.num_actions, (many.shape[0], 4)) + TRUE_ACTIONS
        # The other players are told as the server would (seen from the recorded poses) in the rollouts scored
        # against the truth, but not in the dTPSNR rollouts: after one step, the recorded poses are those of the true
        # actions, which a random-action rollout must not be told.
        roll_true = roll(ctx, true_actions, horizon, others)
        roll_true_blind = roll(ctx, true_actions, 4)
        roll_latent = roll(ctx, latent, 4)
        roll_rand_latent = roll(many, rand_latent, 4)
        roll_rand_true = roll(many, rand_true, 4)
        truth_t4_many = truth[:, 3].repeat(RANDOM_DRAWS, 1, 1, 1)
        recon = model.tokenizer.reconstruct(truth[:, 0], ctx[:, -1])  # the reference design: from the frame before
        intra = model.tokenizer.reconstruct(truth[:, 0]) if model.cfg.tokenizer.reference else recon
    # What the simulator itself draws after those random true actions (the episode forked at each clip's start):
    # a model that follows its actions lands nearer these than the recorded future.
    episode_meta = MultiplayerVideoDataset(data).episode(held_out.episode_of[0])
    episode_actions = recorded_actions(episode_dir(Path(data), held_out.episode_of[0]))
    agents = np.array(held_out.agent_of)[views]
    simulated = to_tensor(
        counterfactual_views(
            episode_meta,
            episode_actions,
            np.tile(starts, RANDOM_DRAWS),
            np.tile(agents, RANDOM_DRAWS),
            rand_true.numpy(),
        )[:, 3]
    )
    result = {
        "checkpoint": str(checkpoint),
        "config": payload["config"]["name"],
        "train_steps": int(payload["step"]),
        "clips": clips,
        "guidance": guidance,
        "psnr_tokenizer": psnr(recon, truth[:, 0]),
        "psnr_tokenizer_intra": psnr(intra, truth[:, 0]),  # from the tokens alone (the same for other designs)
        "psnr_tf": psnr(roll_true[:, 0], truth[:, 0]),
        "ssim_tf": ssim(roll_true[:, 0], truth[:, 0]),
        "psnr_t4": psnr(roll_true[:, 3], truth[:, 3]),
        "psnr_t16": psnr(roll_true[:, 15], truth[:, 15]),
        "delta_psnr_t4": psnr(roll_latent[:, 3], truth[:, 3]) - psnr(roll_rand_latent[:, 3], truth_t4_many),
        "delta_psnr_t4_true": psnr(roll_true_blind[:, 3], truth[:, 3]) - psnr(roll_rand_true[:, 3], truth_t4_many),
        "psnr_t4_random_vs_truth": psnr(roll_rand_true[:, 3], truth_t4_many),
        "psnr_t4_random_vs_sim": psnr(roll_rand_true[:, 3], simulated),
        "psnr_sim_random_vs_truth": psnr(simulated, truth_t4_many),
        # The baseline in the same run: repeat the last context frame (a model must beat standing still).
        "psnr_copy_tf": psnr(ctx[:, -1], truth[:, 0]),
        "psnr_copy_t4": psnr(ctx[:, -1], truth[:, 3]),
    }
    result.update(_consistency(episode_meta, episode_actions, starts, agents, ctx[:, -1], roll_true))
    result.update(latent_action_scores(model, frames, actions))
    if preview is not None:

        def strip(x: torch.Tensor) -> np.ndarray:
            return to_frames(x[:4, :8])

        rows = [
            np.concatenate(list(row), axis=1)
            for pair in zip(strip(truth), strip(roll_true), strict=True)
            for row in pair
        ]
        result["preview"] = str(write_png(Path(preview), np.concatenate(rows, axis=0)))
    return result
