"""Commands of VPT (part of the Learn pillar, extra ``learn``): the inverse dynamics model, pseudo-labels and
behavioural cloning. ``train idm`` -> ``eval idm`` / ``bench idm`` -> ``label`` -> ``train bc`` -> ``eval bc``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mpgenie.cli.common import progress, report, run
from mpgenie.cli.groups import app, bench_app, eval_app, train_app
from mpgenie.cli.learn import learn_module
from mpgenie.errors import UsageError

Threads = Annotated[int, typer.Option(help="PyTorch threads (0: one per core; 1 is fastest on a loaded machine).")]
Device = Annotated[str, typer.Option(help="cpu or cuda.")]
TimeLimit = Annotated[float | None, typer.Option(help="Stop training after this many seconds (checkpoint kept).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Seed = Annotated[int, typer.Option()]
LabelledData = Annotated[str, typer.Option(help="Labelled dataset (its last quarter of episodes is held out).")]
Context = Annotated[int, typer.Option(help="k: the IDM sees frames t-k .. t+k.")]
Observers = Annotated[int, typer.Option(help="Also up to this many other players' views of the player.")]


def _need(path: str) -> None:
    if not Path(path).is_file():
        raise UsageError(f"no checkpoint at {path}")


@train_app.command("idm")
def train_idm_cmd(
    data: LabelledData,
    labelled_hours: Annotated[float, typer.Option(help="Label budget: hours of player video trained on.")],
    out: Annotated[str, typer.Option(help="Checkpoint file (written atomically).")],
    steps: Annotated[int, typer.Option(help="Optimisation steps (batches of 64 windows).")] = 1500,
    context: Context = 2,
    observers: Observers = 0,
    device: Device = "cpu",
    time_limit: TimeLimit = None,
    seed: Seed = 0,
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """Train the inverse dynamics model (non-causal: past and future frames -> the action at t)."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, data, module="idm_train")
        cfg = m.IDMTrainConfig(
            data=data, out=out, labelled_hours=labelled_hours, steps=steps, context=context, observers=observers,
            device=device, seed=seed, time_limit=time_limit,
        )  # fmt: skip
        with progress(as_json, "training idm", steps) as update:
            return m.train_idm(cfg, lambda i, n, loss: update(completed=i, description=f"idm loss {loss:.3f}"))  # type: ignore[no-any-return]

    report(run(body), as_json, "trained idm")


@eval_app.command("idm")
def eval_idm_cmd(
    checkpoint: Annotated[str, typer.Option(help="Checkpoint from `mpgenie train idm`.")],
    data: Annotated[str, typer.Option(help="The training dataset (its held-out episodes) or another one (all).")],
    confusion_png: Annotated[str | None, typer.Option(help="Write the confusion matrix as a PNG.")] = None,
    device: Device = "cpu",
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """IDM accuracy on held-out episodes, per-action precision/recall, the confusion matrix."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, data, module="idm_train")
        _need(checkpoint)
        return m.eval_idm(checkpoint, data, confusion_png, device)  # type: ignore[no-any-return]

    report(run(body), as_json, "idm evaluation")


@bench_app.command("idm")
def bench_idm_cmd(
    data: LabelledData,
    out: Annotated[str, typer.Option(help="Directory for one checkpoint and confusion PNG per budget.")],
    budgets: Annotated[str, typer.Option(help="Labelled hours, comma-separated.")] = "0.02,0.05,0.1,0.2",
    steps: Annotated[int, typer.Option(help="Optimisation steps per budget.")] = 1500,
    context: Context = 2,
    observers: Observers = 0,
    device: Device = "cpu",
    seed: Seed = 0,
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """Accuracy vs labelled hours (VPT's scaling study): one IDM per budget, each scored on the held-out episodes."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, data, module="idm_train")
        try:
            hours = [float(x) for x in budgets.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--budgets must be numbers separated by commas, got {budgets!r}") from None
        cfg = m.IDMTrainConfig(
            data=data, out=out, labelled_hours=1.0, steps=steps, context=context, observers=observers,
            device=device, seed=seed,
        )  # fmt: skip
        with progress(as_json, "sweep", steps * len(hours)) as update:
            done = [0]

            def tick(i: int, n: int, loss: float) -> None:
                done[0] += 1
                update(completed=done[0], description=f"idm loss {loss:.3f}")

            return m.sweep_idm(cfg, hours, tick)  # type: ignore[no-any-return]

    report(run(body), as_json, "idm: accuracy vs labelled hours")


@app.command("label")
def label_cmd(
    idm: Annotated[str, typer.Option(help="IDM checkpoint (mpgenie train idm).")],
    data: Annotated[str, typer.Option(help="The unlabelled dataset (its recorded actions are not used).")],
    out: Annotated[str, typer.Option(help="The pseudo-labelled dataset (created; labelled episodes are kept).")],
    device: Device = "cpu",
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """Pseudo-label a dataset with an IDM: a copy with pseudo_action and pseudo_confidence per agent and tick."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, data, module="label")
        _need(idm)
        with progress(as_json, "labelling", 1) as update:
            return m.label_dataset(idm, data, out, device, lambda i, n: update(completed=i, total=n))  # type: ignore[no-any-return]

    report(run(body), as_json, "pseudo-labels")


@train_app.command("bc")
def train_bc_cmd(
    data: Annotated[str, typer.Option(help="Dataset: pseudo-labelled (mpgenie label) or, with --labels true, any.")],
    out: Annotated[str, typer.Option(help="Checkpoint file (written atomically).")],
    labels: Annotated[str, typer.Option(help="pseudo (the IDM's) or true (the recorded actions).")] = "pseudo",
    steps: Annotated[int, typer.Option(help="Optimisation steps (batches of 64).")] = 2000,
    history: Annotated[int, typer.Option(help="Past frames the policy sees.")] = 4,
    state: Annotated[
        bool, typer.Option(help="Also read the player's own state vector (rebuilt from the recorded state).")
    ] = True,
    device: Device = "cpu",
    time_limit: TimeLimit = None,
    seed: Seed = 0,
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """Behavioural cloning: a causal policy (past frames, and its own state vector) trained on (pseudo-)labels."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, data, module="bc_train")
        cfg = m.BCTrainConfig(
            data=data, out=out, labels=labels, steps=steps, history=history, state=state, device=device,
            seed=seed, time_limit=time_limit,
        )  # fmt: skip
        with progress(as_json, "training bc", steps) as update:
            return m.train_bc(cfg, lambda i, n, loss: update(completed=i, description=f"bc loss {loss:.3f}"))  # type: ignore[no-any-return]

    report(run(body), as_json, "trained bc")


@eval_app.command("bc")
def eval_bc_cmd(
    checkpoint: Annotated[list[str], typer.Option(help="BC checkpoint(s) to play (repeat the option).")],
    episodes: Annotated[int, typer.Option(help="Episodes per policy (fresh world seeds).")] = 4,
    players: Annotated[int, typer.Option(help="Agents per episode, all played by the policy.")] = 8,
    steps: Annotated[int, typer.Option(help="Ticks per episode.")] = 400,
    seed: Annotated[int, typer.Option(help="World seed of the first episode.")] = 10_000,
    greedy: Annotated[bool, typer.Option(help="Argmax actions instead of sampling.")] = False,
    teacher: Annotated[
        str,
        typer.Option(
            help="The scripted teacher to compare with: auto (the one that made the first checkpoint's data), "
            "scenarios (styles drawn from the templates in turn) or one style (cooperator, collector, ...)."
        ),
    ] = "auto",
    threads: Threads = 0,
    as_json: Json = False,
) -> None:
    """Play BC policies, the scripted teacher and a random policy in the pixel env: reward, score, action KL."""

    def body() -> dict[str, Any]:
        m = learn_module(threads, module="bc_train")
        for c in checkpoint:
            _need(c)
        with progress(as_json, "playing", len(checkpoint) + 2) as update:
            return m.eval_bc(  # type: ignore[no-any-return]
                checkpoint, episodes, players, steps, seed, not greedy, teacher, lambda i, n: update(completed=i)
            )

    report(run(body), as_json, "bc play")
