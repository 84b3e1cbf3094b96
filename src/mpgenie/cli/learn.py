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
from mpgenie.models.designs import DEFAULT_TOKENIZER


def learn_module(threads: int, *datasets: str, module: str = "train") -> Any:
    """The Learn pillar's module ``mpgenie.models.<module>`` (default: the world model's trainer), PyTorch set to
    ``threads`` and ``datasets`` checked to be datasets; or a user error (the 'learn' extra missing included).

    Training and evaluation are PyTorch's own matrix work, unlike the tick loop the BLAS pin in ``main`` is for:
    they get every core (or the number asked for)."""
    if threads < 0:
        raise UsageError("--threads must be >= 0")
    try:
        import torch
    except ImportError:
        raise UsageError("this needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
    learn = importlib.import_module(f"mpgenie.models.{module}")  # a broken import of ours is a bug: its traceback
    torch.set_num_threads(threads or os.cpu_count() or 1)
    for data in datasets:
        dataset_dir(data)
    return learn


@train_app.command("worldmodel")
def train_worldmodel_cmd(
    data: Annotated[str, typer.Option(help="Dataset directory (mpgenie generate).")],
    out: Annotated[str, typer.Option(help="Checkpoint file (resumed when it exists).")],
    config: Annotated[str, typer.Option(help="tiny (CPU), small, base (GPU).")] = "tiny",
    tokenizer: Annotated[
        str,
        typer.Option(
            help="Tokenizer design: reference (plain's tokens, each frame decoded from the frame before), plain, or "
            "residual (six FSQ digits, residual decoder)."
        ),
    ] = DEFAULT_TOKENIZER,
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
                    tokenizer=tokenizer,
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
    tokenizer: Annotated[
        str, typer.Option(help="The preset's tokenizer design: plain, residual, reference.")
    ] = DEFAULT_TOKENIZER,
    guidance: Annotated[
        float | None, typer.Option(help="Action guidance served (default: the model's; 1: one pass per round).")
    ] = None,
    frames: Annotated[int, typer.Option(help="Timed ticks (frames per player).")] = 20,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Serving speed of the learned world model: frames/s per player and per core, batched vs one by one."""
    from mpgenie.bench.worldmodel import bench_worldmodel

    def body() -> dict[str, Any]:
        if checkpoint is not None and not Path(checkpoint).exists():
            raise UsageError(f"no checkpoint at {checkpoint}")
        return bench_worldmodel(players, config, checkpoint, frames, threads, tokenizer=tokenizer, guidance=guidance)

    result = run(body)
    report(result, as_json, f"bench worldmodel: {players} players, {result['config']}")


def _agents_extras() -> None:
    """Population training and its evaluation need PyTorch (extra 'learn') and Ray (extra 'scale')."""
    try:
        import ray  # noqa: F401
        import torch

        torch.set_num_threads(1)  # Ray gives each task a CPU; the driver only bookkeeps
    except ImportError:
        raise UsageError("this needs the 'learn' and 'scale' extras: pip install 'mpgenie[learn,scale]'") from None


@train_app.command("agents")
def train_agents_cmd(
    out: Annotated[str, typer.Option(help="Run directory: league.json, members/, snapshots/, curves (resumed).")],
    scenario: Annotated[str, typer.Option(help="Reward scenario: collect, cooperate, compete, explore, mixed.")] = (
        "compete"
    ),
    population: Annotated[int, typer.Option(help="Members trained together.")] = 8,
    time_limit: Annotated[float, typer.Option(help="Seconds of this run (no round starts that would not fit).")] = 600,
    address: Annotated[
        str | None, typer.Option(help="A Ray cluster (ray://host:10001, or auto); default: a local Ray.")
    ] = None,
    workers: Annotated[int, typer.Option(help="CPUs of the local Ray (tasks at once).")] = 2,
    players: Annotated[int, typer.Option(help="Agents per world (0: 2 for compete, else 4).")] = 0,
    max_steps: Annotated[int, typer.Option(help="Episode length in ticks (training and rating games).")] = 400,
    interval: Annotated[int, typer.Option(help="PPO iterations per member per round.")] = 5,
    worlds: Annotated[int, typer.Option(help="Worlds per PPO rollout.")] = 16,
    rounds: Annotated[int | None, typer.Option(help="Stop after this many more rounds.")] = None,
    init: Annotated[
        str,
        typer.Option(
            help="Scripted styles (comma-separated) member i starts as a behavioural clone of (style i mod k), "
            "then PPO fine-tunes it, paid as its style's scenario pays and exploiting only members of its style; "
            "empty: fresh networks."
        ),
    ] = "",
    diversity: Annotated[
        float,
        typer.Option(
            help="Weight of the diversity term: members are also paid per action for using it more than the "
            "other members did in the last round's rating games (0: off; 0..1)."
        ),
    ] = 0.0,
    min_entropy: Annotated[
        float,
        typer.Option(
            help="Floor (bits, 0..log2 10) on every member's action entropy in every state, enforced by a penalty: "
            "keeps the diversity term from collapsing members onto one action (0: off)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Population-based training on Ray: PPO self-play members, a league with snapshots, Elo, exploit/explore."""

    def body() -> dict[str, Any]:
        _agents_extras()
        from mpgenie.agents.pbt import PBTConfig, train_population

        if workers < 1:
            raise UsageError("--workers must be >= 1")
        config = PBTConfig(
            scenario=scenario,
            population=population,
            players=players,
            max_steps=max_steps,
            interval=interval,
            num_worlds=worlds,
            seed=seed,
            init=init,
            diversity=diversity,
            min_entropy=min_entropy,
        )
        with progress(as_json, "training agents", time_limit) as update:
            result = train_population(
                out,
                config,
                time_limit,
                address=address,
                workers=workers,
                max_rounds=rounds,
                progress=lambda s: update(
                    completed=min(s["elapsed_s"], time_limit),
                    description=f"round {s['round']}: best {s['best']} ({s['ratings'][s['best']]:.0f} Elo)",
                ),
            )
        return result

    result = run(body)
    if as_json:
        report(result, True, "")
    else:
        report({k: v for k, v in result.items() if k != "table"}, False, "train agents")
        report({r["id"]: f"{r['rating']:.0f} ({r['games']} games)" for r in result["table"]}, False, "league")


@eval_app.command("agents")
def eval_agents_cmd(
    run_dir: Annotated[str, typer.Argument(metavar="DIR", help="A run directory of `mpgenie train agents`.")],
    games: Annotated[int, typer.Option(help="1v1 duels of the best member against the scripted competitor.")] = 32,
    worlds: Annotated[int, typer.Option(help="Worlds (episodes) for the co-op and the diversity measures.")] = 8,
    max_steps: Annotated[int, typer.Option(help="Ticks per game and per episode.")] = 400,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Win rate vs the scripted competitor (1v1), co-op beacon rate vs the scripted co-operator, diversity."""

    def body() -> dict[str, Any]:
        _agents_extras()
        from mpgenie.agents.evaluate import evaluate

        return evaluate(run_dir, games=games, worlds=worlds, max_steps=max_steps, seed=seed)

    result = run(body)
    if as_json:
        report(result, True, "")
    else:
        report({k: v for k, v in result.items() if k != "table"}, False, f"eval agents: {run_dir}")


@bench_app.command("tokenizer")
def bench_tokenizer_cmd(
    data: Annotated[str, typer.Option(help="Training dataset (mpgenie generate); its last episode is not trained on.")],
    holdout: Annotated[
        str | None, typer.Option(help="Dataset whose last episode is scored (default: --data's own last episode).")
    ] = None,
    tokenizer: Annotated[str, typer.Option(help="Tokenizer design: plain, residual, reference.")] = DEFAULT_TOKENIZER,
    config: Annotated[str, typer.Option(help="Preset whose tokenizer is trained: tiny, small, base.")] = "tiny",
    score_at: Annotated[str, typer.Option(help="Step counts to score at, comma-separated.")] = "2000,4500",
    every: Annotated[int, typer.Option(help="Score every N-th frame of each held-out view.")] = 25,
    frames: Annotated[int, typer.Option(help="At most this many scored frames.")] = 128,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(help="PyTorch threads (0: one per core).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A tokenizer design trained alone (the trainer's batches and optimiser): held-out reconstruction PSNR and CPU
    seconds at the step counts asked for."""

    def body() -> dict[str, Any]:
        bench = learn_module(threads, data, *([holdout] if holdout else []), module="tokenizer_bench")
        try:
            points = [int(x) for x in score_at.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--score-at must be step counts separated by commas, got {score_at!r}") from None
        with progress(as_json, "tokenizer", max(points, default=0)) as update:
            return bench.bench_tokenizer(  # type: ignore[no-any-return]
                data, holdout, tokenizer, config, points, seed, every, frames,
                progress=lambda i, n, loss: update(completed=i, description=f"tokenizer loss {loss:.4f}"),
            )  # fmt: skip

    result = run(body)
    report(result, as_json, f"bench tokenizer: {result['tokenizer']} ({result['config']})")
