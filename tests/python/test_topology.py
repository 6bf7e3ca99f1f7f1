"""The deployment's topology as plain processes (`deploy/local/topology`): three Cairn nodes
with the compose file's configuration on the suite's Apache Kafka cluster. Every node is
ready, serves the Temporal API and runs workflows whose partitions any node owns, and the
Temporal Web UI on the first node lists them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from temporalio.client import Client

from cluster import kafka_cluster_env
from conftest import REPO_ROOT, cairn_binary
from support import eventually, unique, worker
from workflows import GreetingWorkflow

KAFKA_DIR_ENV = "CAIRN_TEST_KAFKA_DIR"
pytestmark = [
    pytest.mark.skipif(KAFKA_DIR_ENV not in os.environ, reason=f"needs ${KAFKA_DIR_ENV}"),
    pytest.mark.timeout(300),
]


async def test_the_local_topology_serves_workflows_through_every_node(tmp_path: Path) -> None:
    kafka = kafka_cluster_env(os.environ[KAFKA_DIR_ENV])["KAFKA_BOOTSTRAP"]
    script = REPO_ROOT / "deploy" / "local" / "topology"
    env = dict(os.environ, CAIRN_BIN=str(cairn_binary()))
    started = subprocess.run(
        [str(script), "start", "--dir", str(tmp_path), "--kafka", kafka],
        capture_output=True, text=True, timeout=240, env=env,
    )
    try:
        assert started.returncode == 0, started.stderr
        topology = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        frontends = topology["FRONTENDS"].split(",")
        assert len(frontends) == 3
        for address in topology["METRICS"].split(","):
            with urllib.request.urlopen(f"http://{address}/readyz", timeout=10) as ready:
                assert ready.status == 200
        started_ids = []
        for address in frontends:
            client = await Client.connect(address)
            queue = unique("topology")
            async with worker(client, queue):
                for _ in range(4):
                    started_ids.append(unique("topology"))
                    result = await client.execute_workflow(
                        GreetingWorkflow.run, "topology", id=started_ids[-1], task_queue=queue
                    )
                    assert result == "Hello, topology!"
        # The Web UI, on the first node, shows the workflows every node ran.
        assert topology["UI"], "temporal-ui-server is not installed: run scripts/setup"
        url = (
            f"{topology['UI']}/api/v1/namespaces/default/workflows?pageSize=1000&query="
            + urllib.parse.quote("WorkflowType='GreetingWorkflow'")
        )

        async def shown() -> set[str]:
            listed = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(url)))
            return {run["execution"]["workflowId"] for run in listed.get("executions", [])}

        await eventually(shown, lambda ids: set(started_ids) <= ids, what="the UI's list")
    finally:
        subprocess.run([str(script), "stop", "--dir", str(tmp_path)], timeout=120, env=env)
