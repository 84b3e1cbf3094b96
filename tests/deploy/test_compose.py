"""deploy/compose.yaml against the code: the services it promises, `mpgenie` command lines that parse, environment
names that Settings or `serve` really read, ports that are serve's defaults, and Prometheus scraping each of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import DEPLOY, check_env_names, parse_mpgenie, role, serve_defaults

COMPOSE = DEPLOY / "compose.yaml"
CORE = {"api", "realtime-1", "realtime-2", "postgres", "redis", "prometheus", "grafana"}
RAY = {"ray-head", "ray-worker", "generate"}
INTERPOLATION = re.compile(r"^\$\{(\w+)(?::?[-?][^}]*)?\}$")
DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")  # ${VAR:-default}: what compose puts there with VAR unset
REDIS_URL = "redis://redis:6379/0"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _mpgenie_services(compose: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """Services that run the `mpgenie` entrypoint: name -> (command, parsed options, service)."""
    out = {}
    for name, svc in compose["services"].items():
        if "mpgenie" in str(svc.get("image", "")) and "entrypoint" not in svc:
            command, params = parse_mpgenie([_defaulted(a) for a in svc["command"]])
            out[name] = (command, params, svc)
    return out


def _defaulted(value: str) -> str:
    """A compose value with each ``${VAR:-default}`` replaced by its default (the variable unset)."""
    return DEFAULTED.sub(lambda m: m.group(1), value)


def _port_pairs(svc: dict[str, Any]) -> list[tuple[int, int]]:
    pairs = []
    for spec in svc.get("ports", []):
        host, _, container = str(spec).rpartition(":")
        pairs.append((int(host), int(container)))
    return pairs


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == CORE | RAY
    for name in CORE:
        assert "profiles" not in services[name], f"{name} must start with a plain `up`"
    for name in RAY:
        assert services[name].get("profiles") == ["ray"], f"{name} belongs to the ray profile"


def test_mpgenie_command_lines_parse_and_have_their_roles(compose: dict[str, Any]) -> None:
    svcs = _mpgenie_services(compose)
    roles = {name: role(params) for name, (command, params, _) in svcs.items() if command == "serve"}
    assert roles == {"api": "api", "realtime-1": "realtime", "realtime-2": "realtime"}
    for _, params, _ in svcs.values():
        if "host" in params:
            assert params["host"] == "0.0.0.0", "in a container serve must listen beyond loopback"
    command, params, _ = svcs["generate"]
    assert command == "generate" and params["ray"] and params["out"].startswith("/data/")


def test_environment_names_are_read_by_the_code(compose: dict[str, Any]) -> None:
    problems = []
    for name, (_, _, svc) in _mpgenie_services(compose).items():
        problems += check_env_names(set(svc.get("environment") or {}), f"compose service {name}")
    assert not problems, "\n".join(problems)


def test_secrets_are_never_literal(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search("SECRET|PASSWORD", key):
                match = INTERPOLATION.match(str(value))
                assert match and ":?" in str(value), f"{name}.{key} must be a required ${{VAR:?...}} from deploy/.env"
    database_url = compose["services"]["api"]["environment"]["MPGENIE_DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in database_url
    example = (DEPLOY / ".env.example").read_text()
    assert not re.search(r"^(\w*(SECRET|PASSWORD))=\S", example, re.MULTILINE), ".env.example leaves secrets empty"


def test_every_node_verifies_with_the_api_join_secret(compose: dict[str, Any]) -> None:
    values = {
        svc["environment"]["MPGENIE_JOIN_SECRET"]
        for _, _, svc in _mpgenie_services(compose).values()
        if "MPGENIE_JOIN_SECRET" in (svc.get("environment") or {})
    }
    assert len(values) == 1, values
    assert "MPGENIE_JWT_SECRET" not in compose["services"]["realtime-1"]["environment"], (
        "the JWT secret stays in the API"
    )


def test_ports_are_the_serve_defaults(compose: dict[str, Any]) -> None:
    defaults = serve_defaults()
    host_ports: list[int] = []
    for name, (command, params, svc) in _mpgenie_services(compose).items():
        if command != "serve":
            continue
        port = params["api_port"] if role(params) == "api" else params["port"]
        assert port == (defaults["api_port"] if role(params) == "api" else defaults["port"]), name
        pairs = _port_pairs(svc)
        assert [c for _, c in pairs] == [port], f"{name} publishes {pairs}, serves {port}"
        assert str(svc["environment"]["HEALTH_PORT"]) == str(port), f"{name}: the HEALTHCHECK would probe another port"
        host_ports += [h for h, _ in pairs]
    for name in ("postgres", "redis", "prometheus", "grafana", "ray-head"):
        host_ports += [h for h, _ in _port_pairs(compose["services"][name])]
    assert len(host_ports) == len(set(host_ports)), f"host ports collide: {host_ports}"


def test_realtime_nodes_register_their_published_urls(compose: dict[str, Any]) -> None:
    """Every realtime node is a registered node (--node-url with --redis-url), under a URL of its own that is the
    host port it is published on, configurable from deploy/.env."""
    urls = {}
    example = (DEPLOY / ".env.example").read_text()
    for name, (_, params, svc) in _mpgenie_services(compose).items():
        if params.get("realtime") is not True or params.get("api") is not False:
            continue
        assert params["node_url"], f"{name}: a realtime node without --node-url gets no sessions from the API"
        assert params["redis_url"] == REDIS_URL, f"{name}: --node-url needs --redis-url (the API's Redis)"
        raw = next(a for a in svc["command"] if a.startswith("--node-url"))
        variable = re.search(r"\$\{(\w+):-", raw)
        assert variable, f"{name}: the node URL must be a ${{VAR:-default}} that deploy/.env can set"
        assert f"# {variable.group(1)}=" in example, f"deploy/.env.example must show {variable.group(1)}"
        url = re.fullmatch(r"ws://localhost:(\d+)/ws", params["node_url"])
        assert url, params["node_url"]
        assert int(url.group(1)) in {h for h, _ in _port_pairs(svc)}, f"{name} registers a port it does not publish"
        assert "redis" in svc["depends_on"], f"{name} needs Redis up to register"
        urls[name] = params["node_url"]
    assert set(urls) == {"realtime-1", "realtime-2"}
    assert len(set(urls.values())) == len(urls), f"two nodes register one URL: {urls}"


def test_the_api_places_sessions_on_the_nodes(compose: dict[str, Any]) -> None:
    """The API runs without a realtime server of its own and with the nodes' Redis: `serve` then turns on
    placement, and a single MPGENIE_REALTIME_URL would be unused (so it is not set)."""
    _, params, svc = _mpgenie_services(compose)["api"]
    assert role(params) == "api"
    env = svc["environment"]
    assert (params.get("redis_url") or env.get("MPGENIE_REDIS_URL")) == REDIS_URL
    assert "MPGENIE_REALTIME_URL" not in env, "placement names each session's node: the fixed URL is unused"
    assert "redis" in svc["depends_on"]


def test_redis_keeps_the_failover_state(compose: dict[str, Any]) -> None:
    """Redis holds placements and checkpoints: persisted to a volume, never evicted."""
    redis = compose["services"]["redis"]
    args = redis["command"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(str(v).endswith(":/data") for v in redis["volumes"]), "the append-only file must outlive the container"


def test_prometheus_scrapes_every_server_on_its_port(compose: dict[str, Any]) -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: set(job["static_configs"][0]["targets"]) for job in prom["scrape_configs"]}
    expected_rt, expected_api = set(), set()
    for name, (command, params, _) in _mpgenie_services(compose).items():
        if command == "serve":
            if role(params) == "api":
                expected_api.add(f"{name}:{params['api_port']}")
            else:
                expected_rt.add(f"{name}:{params['port']}")
    assert targets["mpgenie-api"] == expected_api
    assert targets["mpgenie-realtime"] == expected_rt
    for rule_file in prom["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file.split()[0]).is_file()


def test_mounted_paths_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"


def test_ray_profile_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    head = services["ray-head"]
    for name in RAY:  # one image tag, built one way: a service inheriting the plain build would overwrite it
        assert services[name]["image"] == head["image"] and services[name]["build"]["args"]["WITH_RAY"] == "1", name
    client_port = next(a.split("=")[1] for a in head["command"] if a.startswith("--ray-client-server-port="))
    assert services["generate"]["environment"]["RAY_ADDRESS"] == f"ray://ray-head:{client_port}"
    gcs_port = next(a.split("=")[1] for a in head["command"] if a.startswith("--port="))
    assert f"--address=ray-head:{gcs_port}" in services["ray-worker"]["command"]
    for name in RAY:
        assert "dataset:/data" in services[name]["volumes"], f"{name} must share the dataset volume"


# Service keys of the Compose Specification that this file may use (a typo such as `enviroment` is otherwise
# ignored by nobody: compose refuses the file, but only on a machine with Docker). Extend from the spec when needed.
SERVICE_KEYS = {
    "build",
    "command",
    "depends_on",
    "entrypoint",
    "environment",
    "env_file",
    "healthcheck",
    "image",
    "init",
    "ports",
    "profiles",
    "restart",
    "shm_size",
    "stop_grace_period",
    "volumes",
    "expose",
    "labels",
    "user",
}
TOP_KEYS = {"name", "services", "volumes", "networks", "secrets", "configs"}


def test_only_compose_spec_keys(compose: dict[str, Any]) -> None:
    assert set(compose) - TOP_KEYS <= {k for k in compose if k.startswith("x-")}
    for name, svc in compose["services"].items():
        assert set(svc) <= SERVICE_KEYS, f"{name}: {set(svc) - SERVICE_KEYS}"
        depends = svc.get("depends_on") or {}
        for dep in depends.values() if isinstance(depends, dict) else []:
            assert dep["condition"] in {"service_started", "service_healthy", "service_completed_successfully"}
        assert set(svc.get("healthcheck", {})) <= {"test", "interval", "timeout", "retries", "start_period", "disable"}
        assert all(isinstance(a, str) for a in svc.get("command", [])), f"{name}: command items must be strings"
