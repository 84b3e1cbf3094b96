"""Every metric the dashboards, the alert rules and the HPA's adapter rules name is one that the servers' /metrics
really export: a realtime-only and an API-only platform (as deploy/ runs them) are started in-process, get a bit of
traffic, and both endpoints are scraped. Label names, literal label values (`type="snap"`, `route="/v1/..."`) and
scrape job names are checked too; with promtool on PATH, every expression is also parsed by Prometheus itself."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mpgenie.api.app import create_app
from mpgenie.api.observability import ApiMetrics
from mpgenie.api.settings import Settings
from mpgenie.dataset.metrics import GenerationMetrics
from mpgenie.net.client import GameClient
from mpgenie.net.connections import ServerSettings
from mpgenie.net.metrics import ServerMetrics
from mpgenie.net.server import new_event_loop
from mpgenie.net.tickets import issue_ticket
from mpgenie.platform import start_platform, stop_platform
from mpgenie.world import WorldConfig
from tests.deploy.helpers import DEPLOY, K8S, load_all, tool
from tests.ports import free_port

SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created")}
TARGET_LABELS = {"instance", "job", "namespace", "pod", "le"}  # added by Prometheus (and le by histograms)
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
SECRET = "deploy-metrics-test-secret-long-enough-0123456789"


async def _scrape(tmp: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp}/m.db", join_secret=SECRET, argon2_time_cost=1, argon2_memory_kib=64
    )
    realtime = await start_platform(
        settings, WorldConfig(seed=1), ServerSettings(join_secret=SECRET), realtime_port=0, with_api=False
    )
    api = await start_platform(
        settings, WorldConfig(seed=1), ServerSettings(join_secret=SECRET), api_port=free_port(), with_realtime=False
    )
    assert realtime.realtime is not None and api.api_url is not None
    rt_base = f"http://127.0.0.1:{realtime.realtime.port}"
    try:
        client = GameClient(realtime.realtime.url, issue_ticket(SECRET, "metrics-probe", "default"))
        await client.connect()
        for _ in range(3):
            await client.next_snapshot()
        async with httpx.AsyncClient(timeout=10) as http:
            bad = await http.post(f"{api.api_url}/v1/auth/login", json={"username": "nobody", "password": "wrong-pw-1"})
            assert bad.status_code == 401
            probes = {
                f"{base}{path}": (await http.get(f"{base}{path}")).status_code
                for base in (rt_base, api.api_url)
                for path in ("/healthz", "/readyz")
            }
            out = {
                "realtime": (await http.get(f"{rt_base}/metrics")).text,
                "api": (await http.get(f"{api.api_url}/metrics")).text,
                "probes": probes,
            }
        await client.close(leave=True)
        # A generation run's textfile (generate --metrics-file): scraped by a node exporter, job "generate".
        textfile = GenerationMetrics(tmp / "mpgenie_generate.prom", frames_per_episode=8 * 300)
        textfile.update(1, 4)
        out["generate"] = (tmp / "mpgenie_generate.prom").read_text()
        return out
    finally:
        await stop_platform(api)
        await stop_platform(realtime)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    loop = new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(_scrape(tmp_path_factory.mktemp("metrics")), 60))
    finally:
        loop.close()


def _labelnames() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for holder in (ServerMetrics(), ApiMetrics()):
        for value in vars(holder).values():
            if hasattr(value, "_labelnames"):
                out[value._name] = set(value._labelnames)  # no public accessor for label names
    return out


@pytest.fixture(scope="module")
def exported(scraped: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Sample name -> {family, job, labels: {name: {values seen}}}."""
    labelnames = _labelnames()
    out: dict[str, dict[str, Any]] = {}
    for job in ("realtime", "api", "generate"):
        for family in text_string_to_metric_families(scraped[job]):
            labels: dict[str, set[str]] = {name: set() for name in labelnames.get(family.name, ())}
            for sample in family.samples:
                for k, v in sample.labels.items():
                    labels.setdefault(k, set()).add(v)
            for suffix in SUFFIXES.get(family.type, ("",)):
                out[family.name + suffix] = {"family": family.name, "job": job, "labels": labels}
    return out


def _expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard target and variable and every alert rule."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for var in board["templating"]["list"]:
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            out.append((f"{path.name}: variable {var['name']}", query))
    for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            out.append((f"alerts.yml: {rule['alert']}", rule["expr"]))
    return out


def _adapter_rules() -> list[dict[str, Any]]:
    docs = load_all(K8S / "prometheus-adapter.yaml")
    return yaml.safe_load(docs[0]["data"]["config.yaml"])["rules"]


def test_probes_answer_on_both_ports(scraped: dict[str, Any]) -> None:
    assert set(scraped["probes"].values()) == {200}, scraped["probes"]


def test_every_metric_named_is_exported(exported: dict[str, dict[str, Any]]) -> None:
    problems = []
    exprs = _expressions() + [("prometheus-adapter.yaml", r["seriesQuery"]) for r in _adapter_rules()]
    for where, expr in exprs:
        for name in re.findall(r"\bmpgenie_\w+", expr):
            if name not in exported:
                problems.append(f"{where}: {name} is not exported by /metrics")
    assert not problems, "\n".join(problems)
    used = {n for _, e in exprs for n in re.findall(r"\bmpgenie_\w+", e)}
    assert {
        "mpgenie_players_connected",
        "mpgenie_tick_duration_seconds_bucket",
        "mpgenie_bytes_out_total",
        "mpgenie_rejected_inputs_total",
        "mpgenie_inputs_absorbed_total",
        "mpgenie_api_requests_total",
        "mpgenie_api_request_duration_seconds_bucket",
    } <= used


def test_labels_and_label_values_exist(exported: dict[str, dict[str, Any]]) -> None:
    routes = set(create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()["paths"])
    jobs = {
        j["job_name"] for j in yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    }
    problems = []
    for where, expr in _expressions():
        names = set(re.findall(r"\bmpgenie_\w+", expr))
        known = TARGET_LABELS | {k for n in names if n in exported for k in exported[n]["labels"]}
        for grouping in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
            for label in filter(None, (x.strip() for x in grouping.split(","))):
                if label not in known:
                    problems.append(f"{where}: groups by {label!r}, a label none of {sorted(names)} has")
        for name, matchers in re.findall(r'\b(\w+)\{((?:[^{}"]|"[^"]*")*)\}', expr):
            for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                if name == "up" and label == "job":
                    if value not in jobs:
                        problems.append(f"{where}: job {value!r} is not a scrape job of prometheus.yml")
                    continue
                if name not in exported:
                    continue
                if label not in exported[name]["labels"] and label not in TARGET_LABELS:
                    problems.append(f"{where}: {name} has no label {label!r}")
                elif op == "=" and label == "route" and value not in routes:
                    problems.append(f"{where}: route {value!r} is not a route of the API")
                elif (
                    op == "="
                    and label not in {"route", *TARGET_LABELS}
                    and value not in exported[name]["labels"][label]
                ):
                    problems.append(f"{where}: {name}{{{label}={value!r}}} was never seen in a scrape")
    assert not problems, "\n".join(problems)


def test_hpa_metric_names_come_from_exported_series(exported: dict[str, dict[str, Any]]) -> None:
    for rule in _adapter_rules():
        series = re.match(r"(\w+)\{", rule["seriesQuery"])
        assert series and series.group(1) in exported
        assert re.fullmatch(rule["name"]["matches"].strip("^$"), series.group(1))
        assert exported[series.group(1)]["job"] == "realtime", "the realtime HPA scales on realtime metrics"


def test_input_wait_and_generation_rate_are_charted(exported: dict[str, dict[str, Any]]) -> None:
    """The two panels the first dashboards had to leave out, now that their metrics exist."""
    realtime = json.loads((DEPLOY / "grafana" / "dashboards" / "mpgenie-realtime.json").read_text())
    exprs = " ".join(t["expr"] for panel in realtime["panels"] for t in panel["targets"])
    for name in ("mpgenie_input_wait_seconds_bucket", "mpgenie_dataset_frames_total"):
        assert name in exported and name in exprs


def test_dashboards_are_well_formed() -> None:
    provisioning = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uid = provisioning["datasources"][0]["uid"]
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] not in uids
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in board["panels"]:
            assert panel["targets"], f"{path.name}: {panel['title']} has no query"
            assert panel["datasource"]["uid"] == uid
            assert {t["datasource"]["uid"] for t in panel["targets"]} == {uid}
    assert len(uids) == 2


def test_promtool_parses_every_expression(tmp_path: Path) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian/Ubuntu package `prometheus`); CI installs it")
    # label_values() is Grafana's, not PromQL: a variable's query is checked as the selector inside it.
    exprs = [re.sub(r"^label_values\((.+),\s*\w+\)$", r"\1", e.replace("$instance", ".*")) for _, e in _expressions()]
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    (tmp_path / "dash.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    for args in (
        ["check", "rules", str(tmp_path / "dash.yml")],
        ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
    ):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
