"""The internal port between nodes: it serves the public API too (for calls frontends forward
to owners), so it serves nobody but the cluster's nodes. With `[tls.internode]` certificates
the nodes speak mutual TLS and a peer without a certificate from the cluster's CA is refused
at the handshake; without them, a call that does not carry the cluster's id is refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import TLSConfig

from certificates import issue, make_ca
from cluster import Cluster
from support import unique, worker
from workflows import GreetingWorkflow

pytestmark = pytest.mark.timeout(240)


async def _greets_through(cluster: Cluster) -> None:
    """A workflow through the frontend-only node: every call reaches its owner over the
    internal port."""
    client = await Client.connect(cluster.frontend("front"))
    queue = unique("internode")
    async with worker(client, queue):
        result = await client.execute_workflow(
            GreetingWorkflow.run, "internode", id=unique("internode"), task_queue=queue
        )
    assert result == "Hello, internode!"


async def test_nodes_speak_mutual_tls_and_refuse_a_peer_without_the_cluster_certificate(
    tmp_path: Path,
) -> None:
    ca = make_ca(tmp_path, "cluster-ca")
    node = issue(tmp_path, "node", ca, hosts=("127.0.0.1",))
    config = tmp_path / "cairn.toml"
    config.write_text(
        f"""
[tls.internode]
cert_file = "{node.cert}"
key_file = "{node.key}"
ca_files = ["{ca.cert}"]
"""
    )
    cluster = Cluster(tmp_path, partitions=4, node_args=["--config", str(config)])
    try:
        cluster.add("front", "frontend")
        cluster.add("back", "history,matching")
        await _greets_through(cluster)
        internal = cluster.internal_address("back")
        # No client certificate: the handshake fails.
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(
                Client.connect(
                    internal,
                    tls=TLSConfig(server_root_ca_cert=ca.cert.read_bytes(), domain="127.0.0.1"),
                ),
                30,
            )
        # Plaintext to a TLS port: no answer.
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(Client.connect(internal), 30)
        # A certificate from another CA: refused as well.
        stranger = issue(tmp_path, "stranger", make_ca(tmp_path, "stranger-ca")).pem()
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(
                Client.connect(
                    internal,
                    tls=TLSConfig(
                        server_root_ca_cert=ca.cert.read_bytes(),
                        domain="127.0.0.1",
                        client_cert=stranger[0],
                        client_private_key=stranger[1],
                    ),
                ),
                30,
            )
    finally:
        cluster.close()


async def test_without_tls_the_internal_port_refuses_calls_without_the_cluster_id(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path, partitions=4)
    try:
        cluster.add("front", "frontend")
        cluster.add("back", "history,matching")
        await _greets_through(cluster)
        with pytest.raises(RuntimeError, match="internal port"):
            await asyncio.wait_for(Client.connect(cluster.internal_address("back")), 30)
    finally:
        cluster.close()
