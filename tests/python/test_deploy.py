"""deploy/, checked as far as it can be without pulling an image: every manifest, compose file,
dashboard and config parses; the configuration and `CAIRN__…` environment of every Cairn
container are ones `cairn server config` accepts (it refuses unknown keys, so a misspelt
one fails here); ports, probes, services, network policy and scrape targets name what that
configuration opens; the files TLS settings name are mounted; and the Grafana dashboard
queries only metrics a running node serves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client

from conftest import REPO_ROOT, STARTUP_TIMEOUT_S, ServerProcess, cairn_binary
from support import eventually, unique, worker
from workflows import GreetingWorkflow

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose"


def _yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _check_config(config: Path, env: dict[str, str]) -> None:
    """`cairn server config` accepts `config` with `env`, or the test fails with its reason."""
    done = subprocess.run(
        [str(cairn_binary()), "server", "config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CAIRN")}, **env},
    )
    assert done.returncode == 0, f"{config} with {sorted(env)}: {done.stderr}"


def test_every_file_under_deploy_parses() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert files
    for path in files:
        if path.suffix in (".yml", ".yaml"):
            assert _yaml_documents(path), path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())


def _kustomization(directory: Path) -> tuple[list[dict], Path]:
    """The resources a kustomization renders (patches applied by name), and its config file."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    documents: list[dict] = []
    config: Path | None = None
    for resource in kustomization.get("resources", []):
        target = directory / resource
        if target.is_dir():
            documents, config = _kustomization(target)
        else:
            documents += _yaml_documents(target)
    for generator in kustomization.get("configMapGenerator", []):
        assert generator["name"] == "cairn-config"
        config = directory / generator["files"][0]
        assert config.exists(), config
    for patch in kustomization.get("patches", []):
        patch_doc = _yaml_documents(directory / patch["path"])[0]
        for doc in documents:
            if (doc["kind"], doc["metadata"]["name"]) == (patch_doc["kind"], patch_doc["metadata"]["name"]):
                _merge(doc, patch_doc)
    assert config is not None
    return documents, config


def _merge(into: dict, patch: dict) -> None:
    """A strategic merge for what the overlays patch: maps merge, lists of named items merge
    by name, other lists are appended to."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            for item in value:
                named = [i for i in into[key] if isinstance(i, dict) and isinstance(item, dict)
                         and "name" in item and i.get("name") == item["name"]]
                if named:
                    _merge(named[0], item)
                else:
                    into[key].append(item)
        else:
            into[key] = value


def _env(container: dict) -> dict[str, str]:
    """The container's CAIRN__ variables as the node would see them (references resolved to
    stand-ins, secrets to a placeholder)."""
    values: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            values[item["name"]] = re.sub(r"\$\((\w+)\)", "x", str(item["value"]))
        else:
            values[item["name"]] = "secret"
    return {k: v for k, v in values.items() if k.startswith("CAIRN")}


@pytest.mark.parametrize("variant", ["base", "overlays/tls"])
def test_kubernetes_manifests_match_what_cairn_serves(variant: str) -> None:
    documents, config_path = _kustomization(K8S / variant)
    config = tomllib.loads(config_path.read_text())
    kinds = {doc["kind"]: doc for doc in documents}
    assert {"StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy", "Secret"} <= set(kinds)
    statefulset = kinds["StatefulSet"]
    pod = statefulset["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    # The configuration and environment the node reads are ones it accepts.
    assert container["args"][:3] == ["server", "start", "--config"]
    config_file = Path(container["args"][3])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    config_volume = next(n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "cairn-config")
    assert str(config_file.parent) == mounts[config_volume]
    assert config_file.name == config_path.name
    _check_config(config_path, _env(container))
    # Ports are the ones the configuration opens.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "grpc": config["port"], "internal": config["internal_port"], "metrics": config["metrics_port"]
    }
    # Probes ask the metrics port for the paths it answers.
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert ports.get(http["port"], http["port"]) == config["metrics_port"]
    annotations = pod["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == config["metrics_port"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert "requests" in container["resources"]
    # The data directory is on the volume the claim template makes.
    claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
    assert any(config["data_dir"].startswith(mounts[name]) for name in claims)
    # Services and the network policy point at ports the container has.
    for doc in documents:
        if doc["kind"] == "Service":
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in ports, port
        if doc["kind"] == "NetworkPolicy":
            for rule in doc["spec"]["ingress"]:
                for port in rule["ports"]:
                    assert port["port"] in ports, port
    assert kinds["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    # The image's user is the one the pod runs as.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+)", dockerfile, re.M)
    assert user and int(user.group(1)) == pod["spec"]["securityContext"]["runAsUser"]
    # Every file the TLS settings name is on a mounted volume.
    tls = config.get("tls", {})
    named = [v for section in ("frontend", "internode") for k, v in tls.get(section, {}).items()
             if k.endswith("_file")]
    named += [f for section in tls.values() if isinstance(section, dict)
              for f in section.get("ca_files", []) + section.get("client_ca_files", [])]
    for file in named:
        assert any(file.startswith(path + "/") for path in mounts.values()), file
    if variant == "overlays/tls":
        assert named, "the tls overlay turns TLS on"


def test_compose_matches_what_cairn_serves() -> None:
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    services = compose["services"]
    config = tomllib.loads((COMPOSE / "cairn.toml").read_text())
    nodes = {name: s for name, s in services.items() if s.get("image") == "cairn:dev"}
    assert len(nodes) == 3
    for name, node in nodes.items():
        assert node["command"][:3] == ["server", "start", "--config"]
        mounted = {v.split(":")[1]: v.split(":")[0] for v in node["volumes"] if v.startswith("./")}
        assert mounted[node["command"][3]] == "./cairn.toml"
        env = {k: str(v) for k, v in node.get("environment", {}).items()}
        assert env.get("CAIRN__ADVERTISE_HOST") == name
        _check_config(COMPOSE / "cairn.toml", env)
        assert all(p.split(":")[1] == str(config["port"]) for p in node["ports"])
    # Kafka: three KRaft brokers, the ones the nodes bootstrap from.
    brokers = {name for name, s in services.items() if s.get("image", "").startswith("apache/kafka")}
    assert len(brokers) == 3
    assert {h.split(":")[0] for h in config["kafka"]["bootstrap"].split(",")} == brokers
    for name in brokers:
        env = services[name]["environment"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
    # The UI, Prometheus and Grafana point at what the nodes serve.
    ui_host, ui_port = services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"].split(":")
    assert ui_host in nodes and int(ui_port) == config["port"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{n}:{config['metrics_port']}" for n in nodes)
    grafana_mounts = [v.split(":")[0] for v in services["grafana"]["volumes"]]
    for mount in grafana_mounts:
        assert (COMPOSE / mount).resolve().is_dir(), mount


def _metrics_address(server: ServerProcess) -> str:
    for line in server.log_path.read_text().splitlines():
        if "cairn metrics listening on " in line:
            return line.rsplit(" ", 1)[1]
    raise AssertionError("the dev server printed no metrics address")


async def test_the_dashboard_queries_only_metrics_a_node_serves(tmp_path: Path) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "cairn.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bcairn_[a-z_]+", target["expr"])
    }
    assert queried
    server = ServerProcess(
        "cairn-metrics",
        # Snapshots a second apart, so that their age is reported too.
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", "--snapshot-interval", "1s"],
        tmp_path,
        dict(os.environ, NO_COLOR="1"),
    )
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        client = await Client.connect(address)
        queue = unique("metrics")
        async with worker(client, queue):
            await client.execute_workflow(GreetingWorkflow.run, "metrics", id=unique("m"), task_queue=queue)
        # A task no worker takes, so that the backlog gauges have a queue to report.
        await client.start_workflow(GreetingWorkflow.run, "idle", id=unique("m"), task_queue=unique("idle"))
        url = f"http://{_metrics_address(server)}/metrics"

        async def served() -> set[str]:
            """Names of samples served, and of every sample a declared family can have (a
            family with nothing to count yet is declared without samples)."""
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("cairn_")}
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
            for line in text.splitlines():
                if line.startswith("# TYPE cairn_"):
                    _, _, family, kind = line.split()
                    names |= {family + suffix for suffix in suffixes.get(kind, ())}
            return names

        names = await eventually(served, lambda names: queried <= names, what="every queried metric")
        assert queried <= names
    finally:
        server.close()
