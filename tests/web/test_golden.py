"""The committed golden fixtures of the browser client (web/test/fixtures) equal what the Python code produces now:
a protocol or motion change that is not carried into the fixtures (and so into the JS tests) fails here."""

from __future__ import annotations

import pytest

from tests.web.golden import FIXTURES, build


@pytest.fixture(scope="module")
def produced() -> dict[str, str]:
    return build()


@pytest.mark.parametrize("name", ["protocol.json", "kinematics.json", "interpolation.json"])
def test_committed_fixture_is_current(produced: dict[str, str], name: str) -> None:
    committed = (FIXTURES / name).read_text()
    assert committed == produced[name], (
        f"web/test/fixtures/{name} is stale: regenerate with `PYTHONPATH=src python -m tests.web.golden`"
    )
