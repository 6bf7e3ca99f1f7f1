"""TLS on the public port, as the official Python SDK and the `temporal` CLI use it: server TLS,
mutual TLS with a client certificate from the CA the server names, a refused connection
without one or with a stranger's, and a renewed certificate served without a restart. Each
test makes its own certificate authorities (`certificates.py`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import TLSConfig

from certificates import Issued, issue, make_ca
from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary, cli_env, temporal_cli_path
from support import eventually, unique, worker
from workflows import GreetingWorkflow

pytestmark = pytest.mark.timeout(180)


def _dev_server(workdir: Path, *flags: object) -> Iterator[str]:
    server = ServerProcess(
        "cairn-tls",
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", *map(str, flags)],
        workdir,
        dict(os.environ, NO_COLOR="1"),
    )
    try:
        yield server.wait_ready(STARTUP_TIMEOUT_S)
    finally:
        server.close()


@pytest.fixture
def ca(tmp_path: Path) -> Issued:
    return make_ca(tmp_path, "test-ca")


@pytest.fixture
def tls_server(tmp_path: Path, ca: Issued) -> Iterator[str]:
    """A dev server whose public port presents a certificate from `ca`."""
    server = issue(tmp_path, "server", ca)
    yield from _dev_server(tmp_path, "--tls-cert-file", server.cert, "--tls-key-file", server.key)


@pytest.fixture
def mtls_server(tmp_path: Path, ca: Issued) -> Iterator[str]:
    """A dev server that also requires client certificates signed by `ca`."""
    server = issue(tmp_path, "server", ca)
    yield from _dev_server(
        tmp_path,
        "--tls-cert-file", server.cert, "--tls-key-file", server.key,
        "--tls-client-ca-file", ca.cert,
    )


async def _greets(client: Client) -> None:
    queue = unique("tls")
    async with worker(client, queue):
        result = await client.execute_workflow(
            GreetingWorkflow.run, "tls", id=unique("tls"), task_queue=queue
        )
    assert result == "Hello, tls!"


async def test_the_python_sdk_runs_a_workflow_over_tls(tls_server: str, ca: Issued) -> None:
    client = await Client.connect(
        tls_server, tls=TLSConfig(server_root_ca_cert=ca.cert.read_bytes(), domain="localhost")
    )
    await _greets(client)


async def test_plaintext_and_untrusted_clients_cannot_connect_to_a_tls_port(
    tls_server: str, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(Client.connect(tls_server), 30)
    stranger = make_ca(tmp_path, "stranger")
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(
            Client.connect(
                tls_server,
                tls=TLSConfig(server_root_ca_cert=stranger.cert.read_bytes(), domain="localhost"),
            ),
            30,
        )


async def test_mutual_tls_serves_a_client_certificate_from_the_named_ca(
    mtls_server: str, ca: Issued, tmp_path: Path
) -> None:
    cert, key = issue(tmp_path, "client", ca).pem()
    client = await Client.connect(
        mtls_server,
        tls=TLSConfig(
            server_root_ca_cert=ca.cert.read_bytes(),
            domain="localhost",
            client_cert=cert,
            client_private_key=key,
        ),
    )
    await _greets(client)


async def test_mutual_tls_refuses_a_client_without_a_certificate_or_with_a_strangers(
    mtls_server: str, ca: Issued, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(
            Client.connect(
                mtls_server,
                tls=TLSConfig(server_root_ca_cert=ca.cert.read_bytes(), domain="localhost"),
            ),
            30,
        )
    cert, key = issue(tmp_path, "impostor", make_ca(tmp_path, "stranger")).pem()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(
            Client.connect(
                mtls_server,
                tls=TLSConfig(
                    server_root_ca_cert=ca.cert.read_bytes(),
                    domain="localhost",
                    client_cert=cert,
                    client_private_key=key,
                ),
            ),
            30,
        )


def _cli(address: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [temporal_cli_path(), *map(str, args), "--address", address, "--command-timeout", "20s"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )


def test_the_temporal_cli_over_mutual_tls(mtls_server: str, ca: Issued, tmp_path: Path) -> None:
    client = issue(tmp_path, "cli", ca)
    workflow_id = unique("cli-tls")
    tls = [
        "--tls-ca-path", ca.cert, "--tls-cert-path", client.cert, "--tls-key-path", client.key,
        "--tls-server-name", "localhost",
    ]
    started = _cli(
        mtls_server, "workflow", "start", "--type", "Anything", "--task-queue", unique("q"),
        "--workflow-id", workflow_id, *tls,
    )
    assert started.returncode == 0, started.stderr
    described = _cli(mtls_server, "workflow", "describe", "--workflow-id", workflow_id, *tls)
    assert described.returncode == 0, described.stderr
    assert workflow_id in described.stdout
    refused = _cli(
        mtls_server, "workflow", "describe", "--workflow-id", workflow_id,
        "--tls-ca-path", ca.cert, "--tls-server-name", "localhost",
    )
    assert refused.returncode != 0
    assert workflow_id not in refused.stdout


async def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    first_ca, second_ca = make_ca(tmp_path, "first-ca"), make_ca(tmp_path, "second-ca")
    first = issue(tmp_path, "first", first_ca)
    cert, key = tmp_path / "served.crt", tmp_path / "served.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    servers = _dev_server(
        tmp_path, "--tls-cert-file", cert, "--tls-key-file", key, "--tls-refresh-interval", "200ms"
    )
    address = next(servers)
    try:
        trusting_first = TLSConfig(server_root_ca_cert=first_ca.cert.read_bytes(), domain="localhost")
        trusting_second = TLSConfig(server_root_ca_cert=second_ca.cert.read_bytes(), domain="localhost")
        await Client.connect(address, tls=trusting_first)
        renewed = issue(tmp_path, "renewed", second_ca)
        # As a secret mount does: the new files appear whole, key first.
        for source, served in ((renewed.key, key), (renewed.cert, cert)):
            staged = served.with_suffix(".new")
            shutil.copy(source, staged)
            staged.replace(served)

        async def connects_trusting_second() -> bool:
            try:
                await asyncio.wait_for(Client.connect(address, tls=trusting_second), 10)
                return True
            except (RuntimeError, asyncio.TimeoutError):
                return False

        await eventually(
            connects_trusting_second, bool, timeout=30, what="the renewed certificate served"
        )
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(Client.connect(address, tls=trusting_first), 30)
    finally:
        servers.close()
