"""The one ``mpgenie`` command, one module per pillar (world, play, data, learn).

User mistakes end in a one-line ``error: ...`` and exit code 2 (:class:`mpgenie.errors.UsageError`), never a
traceback. Each command imports its pillar when it runs, so the command starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
import os

import typer

from mpgenie.cli.groups import app

__all__ = ["app", "main"]

# Imported for their commands, which register on `app`; this order is the order of `mpgenie --help`.
for _pillar in ("world", "play", "data", "learn", "vpt"):
    importlib.import_module(f"mpgenie.cli.{_pillar}")


@app.command()
def version() -> None:
    """Print the version."""
    from mpgenie import __version__

    typer.echo(__version__)


def main() -> None:
    # The simulation is single-threaded by design (one tick loop per world); BLAS worker threads only spin on the
    # tiny matrix products it does and steal the second core. Set before any command loads NumPy.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    app()
