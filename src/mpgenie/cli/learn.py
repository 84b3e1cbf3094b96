"""Commands of the Learn pillar (extra ``learn``: PyTorch): train and evaluate the world model."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mpgenie.cli.common import dataset_dir, progress, report, run
from mpgenie.cli.groups import bench_app, eval_app, train_app
from mpgenie.errors import UsageError


def learn_module(threads: int, *datasets: str, module: str = "train") -> Any:
    """The Learn pillar's module ``mpgenie.models.<module>`` (default: the world model's trainer), PyTorch set to
    ``threads`` and ``datasets`` checked to be datasets; or a user error (the 'learn' extra missing included).

    Training and evaluation are PyTorch's own matrix work, unlike the tick loop the BLAS pin in ``main`` is for:
    they get every core (or the number asked for)."""
    if threads < 0:
        raise UsageError("--threads must be >= 0")
    try:
        import torch

        learn = importlib.import_module(f"mpgenie.models.{module}")
    except ImportError:
        raise UsageError("this needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
    torch.set_num_threads(threads or os.cpu_count() or 1)
    for data in datasets:
        dataset_dir(data)
    return learn


@train_app.command("worldmodel")
def train_worldmodel_cmd(
    data: Annotated[str, typer.Option(help="Dataset directory (mpgenie generate).")],
    out: Annotated[str, typer.Option(help="Checkpoint file (resumed when it exists).")],
    config: Annotated[str, typer.Option(help="tiny (CPU), small, base (GPU).")] = "tiny",
    steps: Annotated[int, typer.Option(help="Optimisation steps in all (tokenizer, then LAM, then dynamics).")] = 3000,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 250,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop (with a checkpoint) after this many seconds of training, resumed runs included."),
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train the Genie-style world model (tokenizer, latent actions, dynamics) on a dataset."""

    def body() -> dict[str, Any]:
        learn = learn_module(threads, data)
        with progress(as_json, "training", steps) as update:
            return learn.train_worldmodel(  # type: ignore[no-any-return]
                learn.TrainConfig(
                    data=data,
                    out=out,
                    preset=config,
                    steps=steps,
                    checkpoint_every=checkpoint_every,
                    seed=seed,
                    time_limit=time_limit,
                ),
                progress=lambda i, n, phase, loss: update(completed=i, description=f"{phase} loss {loss:.4f}"),
            )

    result = run(body)
    report(result, as_json, f"trained {config}")


@eval_app.command("worldmodel")
def eval_worldmodel_cmd(
    checkpoint: Annotated[str, typer.Option(help="Checkpoint from `mpgenie train worldmodel`.")],
    data: Annotated[str, typer.Option(help="Dataset (its last episode is held out).")],
    clips: Annotated[int, typer.Option(help="Held-out clips to evaluate.")] = 16,
    preview: Annotated[str | None, typer.Option(help="PNG of rollouts next to the ground truth.")] = None,
    guidance: Annotated[
        float | None, typer.Option(help="Action guidance when sampling (default: the checkpoint's; 1: none).")
    ] = None,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """PSNR (teacher-forced, rollout t=4, t=16) and the Genie controllability metric dTPSNR at t=4."""

    def body() -> dict[str, Any]:
        learn = learn_module(threads, data)
        if not Path(checkpoint).exists():
            raise UsageError(f"no checkpoint at {checkpoint}")
        if guidance is not None and guidance < 0:
            raise UsageError("--guidance must be >= 0")
        return learn.eval_worldmodel(  # type: ignore[no-any-return]
            checkpoint, data, clips, preview=preview, guidance=guidance
        )

    result = run(body)
    report(result, as_json, "world model evaluation")


@bench_app.command("worldmodel")
def bench_worldmodel_cmd(
    players: Annotated[int, typer.Option(help="Players served in one batch (one call per tick).")] = 8,
    config: Annotated[str, typer.Option(help="Preset timed when no checkpoint is given: tiny, small, base.")] = "tiny",
    checkpoint: Annotated[str | None, typer.Option(help="A trained checkpoint instead of a preset.")] = None,
    frames: Annotated[int, typer.Option(help="Timed ticks (frames per player).")] = 20,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Serving speed of the learned world model: frames/s per player and per core, batched vs one by one."""
    from mpgenie.bench.worldmodel import bench_worldmodel

    def body() -> dict[str, Any]:
        if checkpoint is not None and not Path(checkpoint).exists():
            raise UsageError(f"no checkpoint at {checkpoint}")
        return bench_worldmodel(players, config, checkpoint, frames, threads)

    result = run(body)
    report(result, as_json, f"bench worldmodel: {players} players, {result['config']}")
