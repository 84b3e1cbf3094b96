"""What every command module shares: the consoles, the user-error boundary, --set parsing and the output forms.

Only typer and rich are imported here, never a pillar: each command imports the pillar it runs inside its body, so
``mpgenie version`` or ``mpgenie --help`` does not pay for NumPy, FastAPI, Numba or PyTorch.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from mpgenie.errors import UsageError

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def run(fn: Callable[[], T], *also: type[Exception]) -> T:
    """Run a command body: a :class:`UsageError` (or an ``OSError``: a path, a port) becomes one ``error:`` line
    and exit code 2. ``also`` adds error types a command knows to be the environment's, not a bug. Every other
    exception keeps its traceback: it is ours to fix, not the user's."""
    from mpgenie.logs import configure_logging

    # Warnings only unless the command (serve, demo) asks for more; JSON on stderr, stdout stays the output.
    configure_logging(json_logs=True, level=logging.WARNING)
    try:
        return fn()
    except (UsageError, OSError, *also) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs; values parse as JSON, else stay strings."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, sort_keys=True))


def print_table(title: str, data: dict[str, Any]) -> None:
    from rich.table import Table  # here, not at start-up: `mpgenie version` needs no tables

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in data.items():
        text = (
            f"{value:.3f}" if isinstance(value, float) else json.dumps(value) if isinstance(value, dict) else str(value)
        )
        table.add_row(key, text)
    console.print(table)


def report(result: dict[str, Any], as_json: bool, title: str) -> None:
    """Every command that reports numbers: one JSON object with --json, else a table."""
    if as_json:
        print_json(result)
    else:
        print_table(title, result)


@contextlib.contextmanager
def progress(quiet: bool, description: str, total: float) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr (none with --json); yields ``update(**fields)``."""
    if quiet:
        yield lambda **_: None
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda **fields: bar.update(task, **fields)


def dataset_dir(path: str) -> str:
    """A recorded dataset's directory, or a user error naming the path."""
    if not (Path(path) / "meta" / "info.json").exists():
        raise UsageError(f"{path} is not a dataset (no meta/info.json)")
    return path


def agents_option(value: str, resolution: int | None = None) -> Any:
    """``--agents``: what :func:`mpgenie.agents.mixture.parse_agents` reads, or ``bc:CKPT``: a behavioural-cloning
    policy for every agent, as a picklable factory ``seed -> Policy`` made here (the agents package below the models
    cannot), checked to load before any worker starts; ``resolution``: the views the caller renders, which the
    checkpoint must have been trained on (None: the checkpoint's own)."""
    from mpgenie.agents.mixture import AgentsSpec, parse_agents

    kind, _, path = value.partition(":")
    if kind != "bc":
        return parse_agents(value)
    if not path:
        raise UsageError("--agents bc:CKPT needs the checkpoint's path after 'bc:'")
    try:
        from mpgenie.models.bc import load_bc, policy_factory
    except ImportError:
        raise UsageError("--agents bc:CKPT needs the 'learn' extra (PyTorch): pip install 'mpgenie[learn]'") from None
    size = load_bc(path)[0].cfg.resolution
    if resolution is not None and size != resolution:
        raise UsageError(f"{path} was trained on {size}x{size} frames: generate with --resolution {size}")
    return AgentsSpec(policy=value, factory=policy_factory(path), resolution=size)
