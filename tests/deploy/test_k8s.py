"""deploy/k8s: every object against Kubernetes' own schemas (kubernetes-validate, offline, strict, one pinned
version), KubeRay's RayCluster against a vendored subset of its CRD with its pod templates against Kubernetes'
PodTemplateSpec, and the manifests against the code: `mpgenie` arguments that parse, environment names that
Settings reads, serve's ports, probes on /healthz and /readyz, the HPA's metrics served by the adapter rules."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.helpers import (
    K8S,
    K8S_VAR,
    K8S_VERSION,
    ROOT,
    check_env_names,
    load_all,
    parse_mpgenie,
    role,
    serve_defaults,
)

MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
NOT_IN_KUSTOMIZATION = {"ray.yaml"}  # needs the KubeRay operator's CRDs first (commented in kustomization.yaml)
CRD_SCHEMAS = {("ray.io/v1", "RayCluster"): K8S / "schemas" / "raycluster-ray-v1.json"}
SECRETS = {
    "mpgenie-secrets": {"jwt-secret", "join-secret", "database-url", "redis-url"},
    "mpgenie-postgres": {"password"},
}
IMAGE = "registry.example.com/mpgenie"


def _objects() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in MANIFESTS for doc in load_all(path)]


OBJECTS = _objects()


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in OBJECTS if doc["kind"] == kind]


def _get(kind: str, name: str) -> dict[str, Any]:
    return next(doc for doc in _by_kind(kind) if doc["metadata"]["name"] == name)


def _pod_templates() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _, doc in OBJECTS:
        spec = doc.get("spec", {})
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]))
        elif doc["kind"] == "RayCluster":
            out.append((f"RayCluster/{doc['metadata']['name']}/head", spec["headGroupSpec"]["template"]))
            for group in spec.get("workerGroupSpecs", []):
                out.append((f"RayCluster/{doc['metadata']['name']}/{group['groupName']}", group["template"]))
    return out


def _mpgenie_containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload, pod template, container) for containers that run the image's `mpgenie` entrypoint."""
    return [
        (name, tpl, c)
        for name, tpl in _pod_templates()
        for c in tpl["spec"]["containers"]
        if c["image"].startswith(IMAGE) and "command" not in c and not name.startswith("RayCluster")
    ]


@pytest.mark.parametrize(("path", "doc"), OBJECTS, ids=[f"{p}:{d['kind']}/{d['metadata']['name']}" for p, d in OBJECTS])
def test_validates_against_kubernetes_schema(path: str, doc: dict[str, Any]) -> None:
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.Draft202012Validator(json.loads(CRD_SCHEMAS[key].read_text())).validate(doc)
        return  # its pod templates: test_crd_pod_templates_validate
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{path}: {doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")


def test_crd_pod_templates_validate() -> None:
    templates = [(n, t) for n, t in _pod_templates() if n.startswith("RayCluster")]
    assert len(templates) >= 2
    for name, template in templates:
        doc = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": template}
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")


def test_only_known_custom_resources() -> None:
    builtin = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2"}
    for path, doc in OBJECTS:
        key = (doc["apiVersion"], doc["kind"])
        assert doc["apiVersion"] in builtin or key in CRD_SCHEMAS, f"{path}: {key} has no schema to validate against"


def test_kustomization_lists_the_manifests() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    files = {p.name for p in MANIFESTS}
    assert listed <= files, listed - files
    assert files - listed == NOT_IN_KUSTOMIZATION
    for _, doc in OBJECTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == kust["namespace"], doc["metadata"]["name"]


def test_no_secret_is_committed() -> None:
    assert not _by_kind("Secret"), "Secrets are created out of band (docs/deploy.md), never committed"
    docs = (ROOT / "docs" / "deploy.md").read_text()
    used: dict[str, set[str]] = {}
    for _, tpl in _pod_templates():
        for c in tpl["spec"]["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.setdefault(ref["name"], set()).add(ref["key"])
    assert used == SECRETS
    for name, keys in used.items():
        assert name in docs and all(k in docs for k in keys), f"docs/deploy.md must say how to create {name}"


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    for name, tpl in _pod_templates():
        spec = tpl["spec"]
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, name
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile")
            assert seccomp == {"type": "RuntimeDefault"}, f"{name}/{c['name']}: seccompProfile"
            assert sc.get("allowPrivilegeEscalation") is False, f"{name}/{c['name']}"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}/{c['name']}"
            assert "memory" in c.get("resources", {}).get("limits", {}), f"{name}/{c['name']}: a memory limit"


def test_mpgenie_arguments_and_environment() -> None:
    config = _get("ConfigMap", "mpgenie-config")["data"]
    problems = check_env_names(set(config), "ConfigMap mpgenie-config")
    roles = {}
    for name, _, c in _mpgenie_containers():
        command, params = parse_mpgenie(c["args"])
        names = {e["name"] for e in c.get("env", [])}
        if any(ref.get("configMapRef", {}).get("name") == "mpgenie-config" for ref in c.get("envFrom", [])):
            names |= set(config)
        problems += check_env_names(names, name)
        if command == "serve":
            roles[name] = role(params)
            assert params["host"] == "0.0.0.0", name
    assert not problems, "\n".join(problems)
    assert roles == {"Deployment/mpgenie-api": "api", "StatefulSet/mpgenie-realtime": "realtime"}


def test_ports_probes_and_scrape_annotations() -> None:
    defaults = serve_defaults()
    for name, tpl, c in _mpgenie_containers():
        command, params = parse_mpgenie(c["args"])
        if command != "serve":
            continue
        port = params["api_port"] if role(params) == "api" else params["port"]
        assert port == (defaults["api_port"] if role(params) == "api" else defaults["port"]), name
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert list(named.values()) == [port], f"{name}: container ports {named}, serves {port}"
        paths = {}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = c[probe]["httpGet"]
            assert named.get(get["port"], get["port"]) == port, f"{name} {probe} probes another port"
            paths[probe] = get["path"]
        assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}, name
        annotations = tpl["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_selectors_match_their_pods() -> None:
    pods = {n: t["metadata"]["labels"] for n, t in _pod_templates()}

    def matches(selector: dict[str, str]) -> list[str]:
        return [n for n, labels in pods.items() if selector.items() <= labels.items()]

    for _, doc in OBJECTS:
        kind, spec = doc["kind"], doc.get("spec", {})
        if kind == "Service":
            assert matches(spec["selector"]), f"Service {doc['metadata']['name']} selects no pods"
        elif kind in {"PodDisruptionBudget", "Deployment", "StatefulSet"}:
            assert matches(spec["selector"]["matchLabels"]), f"{kind} {doc['metadata']['name']} selects no pods"
    sts = _get("StatefulSet", "mpgenie-realtime")
    assert _get("Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


def test_hpa_targets_exist_and_ask_for_adapter_metrics() -> None:
    adapter = yaml.safe_load(_get("ConfigMap", "mpgenie-prometheus-adapter")["data"]["config.yaml"])
    served = {rule["name"]["as"] for rule in adapter["rules"]}
    for hpa in _by_kind("HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        _get(ref["kind"], ref["name"])
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Pods":
                assert metric["pods"]["metric"]["name"] in served, metric
    realtime = _get("HorizontalPodAutoscaler", "mpgenie-realtime")
    assert realtime["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert {m["type"] for m in realtime["spec"]["metrics"]} == {"Pods"}, "the realtime nodes scale on their own load"


def test_ray_job_reaches_the_clusters_client_port() -> None:
    cluster = _get("RayCluster", "mpgenie-ray")
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    client = next(p["containerPort"] for p in head["ports"] if p["name"] == "client")
    job = _get("Job", "mpgenie-generate")["spec"]["template"]["spec"]
    c = job["containers"][0]
    command, params = parse_mpgenie(c["args"])
    assert command == "generate" and params["ray"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["RAY_ADDRESS"] == f"ray://{cluster['metadata']['name']}-head-svc:{client}"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for _, t in _pod_templates()
        for v in t["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    assert claims == {"mpgenie-dataset"}
    assert _get("PersistentVolumeClaim", "mpgenie-dataset")["spec"]["accessModes"] == ["ReadWriteMany"]
    for _, tpl in _pod_templates():
        for c in tpl["spec"]["containers"]:
            if c["image"].endswith("-ray"):
                assert any(m["mountPath"] == "/data" for m in c["volumeMounts"])


def test_migrate_job_command_migrates(tmp_path: Path) -> None:
    """The Job's command, run here against a SQLite file: it must create the schema and exit 0."""
    job = _get("Job", "mpgenie-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"][0] == "python"
    db = tmp_path / "m.db"
    env = {**os.environ, "MPGENIE_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, *job["command"][1:]], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "users"} <= tables, tables


def _container_env(c: dict[str, Any], pod_name: str) -> dict[str, str]:
    """A container's environment as Kubernetes builds it for pod ``pod_name``: ConfigMap values looked up, a Secret
    value as ``<secret NAME/KEY>``, the pod name from the downward API, $(VAR) in values expanded."""
    env: dict[str, str] = {}
    for ref in c.get("envFrom", []):
        env.update(_get("ConfigMap", ref["configMapRef"]["name"])["data"])
    for e in c.get("env", []):
        source = e.get("valueFrom", {})
        if "value" in e:
            value = K8S_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), e["value"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = _get("ConfigMap", ref["name"])["data"][ref["key"]]
        elif "secretKeyRef" in source:
            value = f"<secret {source['secretKeyRef']['name']}/{source['secretKeyRef']['key']}>"
        else:
            assert source["fieldRef"]["fieldPath"] == "metadata.name", e
            value = pod_name
        env[e["name"]] = value
    return env


def _parse_in_pod(c: dict[str, Any], pod_name: str) -> tuple[str, dict[str, Any]]:
    """The container's `mpgenie` command as it runs in pod ``pod_name``: $(VAR) in args expanded, envvars read."""
    env = _container_env(c, pod_name)
    args = []
    for arg in c["args"]:
        for var in K8S_VAR.findall(arg):
            assert var in env, f"{arg}: $({var}) is not in the container's env (Kubernetes would leave it as is)"
        args.append(K8S_VAR.sub(lambda m: env[m.group(1)], arg))
    return parse_mpgenie(args, {k: v for k, v in env.items() if k.startswith("MPGENIE_")})


def _container(workload: str) -> dict[str, Any]:
    return next(c for name, _, c in _mpgenie_containers() if name == workload)


def test_every_realtime_pod_registers_its_own_url() -> None:
    """Each pod of the StatefulSet is a node (--node-url with the API's Redis) under a URL of its own, by default
    its DNS name in the headless Service on the port it serves."""
    sts = _get("StatefulSet", "mpgenie-realtime")
    c = _container("StatefulSet/mpgenie-realtime")
    assert any(a.startswith("--node-url") for a in c["args"]), "the node URL belongs on the command line"
    urls = set()
    for ordinal in range(_get("HorizontalPodAutoscaler", "mpgenie-realtime")["spec"]["maxReplicas"]):
        pod = f"{sts['metadata']['name']}-{ordinal}"
        _, params = _parse_in_pod(c, pod)
        assert role(params) == "realtime"
        assert params["redis_url"] == "<secret mpgenie-secrets/redis-url>", "--node-url needs --redis-url"
        url = params["node_url"]
        domain = f"{sts['spec']['serviceName']}.{sts['metadata']['namespace']}.svc.cluster.local"
        assert url == f"ws://{pod}.{domain}:{params['port']}/ws", url
        urls.add(url)
    assert len(urls) == _get("HorizontalPodAutoscaler", "mpgenie-realtime")["spec"]["maxReplicas"], "URLs collide"
    headless = _get("Service", sts["spec"]["serviceName"])["spec"]
    assert headless["publishNotReadyAddresses"] is True, "a saturated node's players must still resolve it"
    assert not [s for s in _by_kind("Service") if s["spec"].get("type") == "LoadBalancer"], (
        "a load-balanced realtime Service would send a session's players to different nodes"
    )


def test_the_api_places_sessions_with_the_nodes_redis() -> None:
    _, params = _parse_in_pod(_container("Deployment/mpgenie-api"), "mpgenie-api-x")
    assert role(params) == "api"
    assert params["redis_url"] == "<secret mpgenie-secrets/redis-url>", "the API must share the nodes' Redis"
    node_env = _container_env(_container("StatefulSet/mpgenie-realtime"), "mpgenie-realtime-0")
    api_env = _container_env(_container("Deployment/mpgenie-api"), "mpgenie-api-x")
    for name in ("MPGENIE_JOIN_SECRET", "MPGENIE_REDIS_PREFIX"):
        assert api_env.get(name) == node_env.get(name), f"{name} must be equal in the API and the nodes"
    assert "MPGENIE_REALTIME_URL" not in api_env, "placement names each session's node: the fixed URL is unused"


def test_realtime_scale_down_moves_sessions() -> None:
    """SIGTERM: the node checkpoints and unregisters (its sessions move), then drains 2 s; the grace period covers
    that with margin, and nothing delays SIGTERM. One node at a time, for the HPA and for drains alike."""
    spec = _get("StatefulSet", "mpgenie-realtime")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= 15
    assert "lifecycle" not in spec["containers"][0], "a preStop sleep only delays the move"
    assert _get("PodDisruptionBudget", "mpgenie-realtime")["spec"]["maxUnavailable"] == 1
    down = _get("HorizontalPodAutoscaler", "mpgenie-realtime")["spec"]["behavior"]["scaleDown"]
    assert [(p["type"], p["value"]) for p in down["policies"]] == [("Pods", 1)]


def test_redis_keeps_the_failover_state() -> None:
    """Redis holds placements and checkpoints: an append-only file on a volume, no eviction."""
    redis = _get("StatefulSet", "mpgenie-redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    claims = {t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in redis["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts.get("data") == "/data" and "data" in claims
