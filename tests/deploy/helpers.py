"""What the deployment files are checked against: the code's own settings, the `mpgenie` command's options and
the repository's deploy/ tree."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import typer.main
import yaml

from mpgenie.api.settings import Settings
from mpgenie.net.connections import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.33.0"  # the Kubernetes version the manifests are validated against (kubernetes-validate, offline)

# Variables that are read by something other than Settings / `mpgenie serve` and are fine to set.
OTHER_ENV = {
    "HEALTH_PORT": "the image's HEALTHCHECK (Dockerfile)",
    "RAY_ADDRESS": "ray.init in `mpgenie generate --ray`",
    # Expanded by Kubernetes into each realtime pod's --node-url (deploy/k8s/realtime.yaml): $(NAME) in args.
    "POD_NAME": "the realtime pod's --node-url (downward API)",
    "NODE_URL_SCHEME": "the realtime pod's --node-url",
    "NODE_URL_DOMAIN": "the realtime pod's --node-url",
    "NODE_URL_PORT": "the realtime pod's --node-url",
}
K8S_VAR = re.compile(r"\$\((\w+)\)")  # $(NAME) in a container's args or env values

# `serve` flags that configure the realtime server (ServerSettings is a dataclass: it reads no environment).
SERVE_FLAG_TO_SERVER_SETTING = {"max_players": "max_players", "resume_grace": "resume_grace_s", "session": "session"}


def tool(name: str) -> str | None:
    """A command-line tool from the environment running the tests (the venv's bin/, where `make test` has not put
    it on PATH), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def mpgenie_command() -> Any:
    """The `mpgenie` command as Typer builds it (a click group; Typer vendors its own click)."""
    from mpgenie.cli import app  # noqa: PLC0415 - registers every command

    group = typer.main.get_command(app)
    assert hasattr(group, "commands"), type(group)
    return group


@contextmanager
def _environment(env: dict[str, str] | None) -> Iterator[None]:
    """``env`` as the process environment's MPGENIE_* (none of the test runner's own), for options' envvars."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MPGENIE_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(env or {})
    try:
        yield
    finally:
        for k in env or {}:
            os.environ.pop(k, None)
        os.environ.update(saved)


def parse_mpgenie(args: list[str], env: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """Parse a container's `mpgenie ...` arguments exactly as the command would (unknown flags raise), with the
    container's environment ``env`` for the options that read one (``--redis-url`` from MPGENIE_REDIS_URL...)."""
    group = mpgenie_command()
    name, rest = args[0], args[1:]
    assert name in group.commands, f"`mpgenie {name}` does not exist"
    with _environment(env):
        ctx = group.commands[name].make_context(name, list(rest))
    return name, dict(ctx.params)


def serve_defaults() -> dict[str, Any]:
    return {p.name: p.default for p in mpgenie_command().commands["serve"].params if p.name}


def settings_env_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def serve_env_names() -> set[str]:
    names: set[str] = set()
    for param in mpgenie_command().commands["serve"].params:
        env = getattr(param, "envvar", None)
        if isinstance(env, str):
            names.add(env)
        elif env:
            names.update(env)
    return names


def check_env_names(names: set[str], where: str) -> list[str]:
    """Problems with environment variable names: each must be read by Settings, `serve` or a known consumer."""
    known = settings_env_names() | serve_env_names() | set(OTHER_ENV)
    prefix = Settings.model_config.get("env_prefix", "").upper()
    server_fields = {f"{prefix}{f}".upper() for f in ServerSettings.__dataclass_fields__}
    problems = []
    for name in sorted(names - known):
        if name in server_fields:
            problems.append(
                f"{where}: {name} names a ServerSettings field, but ServerSettings reads no environment: use the "
                "`mpgenie serve` flag"
            )
        else:
            problems.append(f"{where}: {name} is read by nothing (Settings ignores unknown MPGENIE_* names silently)")
    return problems


def role(params: dict[str, Any]) -> str:
    """'api', 'realtime' or 'both' for a parsed `serve` command."""
    if params["api"] and params["realtime"]:
        return "both"
    return "api" if params["api"] else "realtime"
