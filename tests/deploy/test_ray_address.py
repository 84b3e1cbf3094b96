"""`mpgenie generate --ray` on an existing cluster (KubeRay, compose's ray profile): with RAY_ADDRESS set, ray.init
must not be given num_cpus, which Ray refuses when it connects to a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from mpgenie.dataset import generate


class _StopError(Exception):
    pass


def _record_ray_init(monkeypatch: pytest.MonkeyPatch, ray_address: str | None) -> list[dict[str, Any]]:
    """``ray.init``'s keyword arguments, recorded (the call then stops the caller), with RAY_ADDRESS set or not."""
    ray = pytest.importorskip("ray")
    calls: list[dict[str, Any]] = []

    def init(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise _StopError

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    if ray_address is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", ray_address)
    return calls


@pytest.mark.parametrize("address", [None, "ray://ray-head:10001"])
def test_ray_init_arguments(monkeypatch: pytest.MonkeyPatch, address: str | None) -> None:
    calls = _record_ray_init(monkeypatch, address)
    with pytest.raises(_StopError):
        generate._generate_ray("/tmp/unused", [], 3, lambda: None)
    if address is None:
        assert calls == [{"num_cpus": 3, "include_dashboard": False, "log_to_driver": False}]
    else:
        assert calls == [{"log_to_driver": False}]


@pytest.mark.parametrize(
    ("flag", "env", "want"),
    [
        (None, None, {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}),
        ("ray://head:10001", None, {"address": "ray://head:10001", "log_to_driver": False}),
        (None, "ray://ray-head:10001", {"address": None, "log_to_driver": False}),
    ],
)
def test_train_agents_ray_init_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, flag: str | None, env: str | None, want: dict[str, Any]
) -> None:
    """`train agents`: a local Ray of --workers CPUs by default; --address (or RAY_ADDRESS) joins a cluster."""
    calls = _record_ray_init(monkeypatch, env)
    pytest.importorskip("torch")
    from mpgenie.agents.pbt import PBTConfig, train_population  # noqa: PLC0415 - needs torch, skipped without it

    with pytest.raises(_StopError):
        train_population(tmp_path, PBTConfig(population=2), 10.0, address=flag, workers=2)
    assert calls == [want]
