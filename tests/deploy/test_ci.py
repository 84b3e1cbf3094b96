"""The GitHub workflow parses and runs the same gates as .ci/run: lint and `make test`, with the venv cached and
the image built on tags."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.helpers import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the bare key `on` as true
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_workflow_runs_lint_and_make_test() -> None:
    wf = _workflow()
    assert {"push", "pull_request"} <= set(wf["on"])
    test = wf["jobs"]["test"]
    runs = _runs(test)
    assert "make test" in runs and "make lint" in runs
    setup = next(s for s in test["steps"] if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    cache = next(s for s in test["steps"] if str(s.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == ".venv" and "hashFiles('pyproject.toml')" in cache["with"]["key"]


def test_image_is_built_on_tags_only_after_the_tests() -> None:
    wf = _workflow()
    assert any(t.startswith("v") for t in wf["on"]["push"]["tags"])
    image = wf["jobs"]["image"]
    assert image["needs"] == "test" and "refs/tags/" in image["if"]
    build = next(s for s in image["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action"))
    assert build["with"]["file"] == "Dockerfile" and (ROOT / "Dockerfile").is_file()


def test_ci_run_is_still_the_local_entry_point() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert script.rstrip().endswith("make test")
    makefile = (ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "pytest" in test_target and "-m" not in test_target.replace("-m pytest", ""), "make test runs every test"
