"""The ``mpgenie`` command and its sub-command groups; the command modules register themselves on these."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Multiplayer Genie: a multiplayer platform for AI world models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
bench_app = typer.Typer(help="Benchmarks (numbers, not pass/fail). Every one has --json.", no_args_is_help=True)
world_app = typer.Typer(help="Inspect the world a config and seed produce.", no_args_is_help=True)
dataset_app = typer.Typer(help="Check and describe recorded datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train models (extra 'learn': PyTorch).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models (extra 'learn': PyTorch).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(world_app, name="world")
app.add_typer(dataset_app, name="dataset")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
