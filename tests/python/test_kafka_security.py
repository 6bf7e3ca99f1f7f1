"""Cairn on a secured Apache Kafka: SASL_SSL with SCRAM, PLAIN and OAUTHBEARER, and mutual TLS,
on the secured listeners of the test cluster (`scripts/kafka start --secure`, whose directory
is `CAIRN_TEST_KAFKA_DIR`). Each test makes what a Kafka operator would hand out (SCRAM users
through Kafka's own ConfigCommand, client certificates signed by the cluster's CA, an OpenID
Connect token endpoint) and runs a workflow through the node. Wrong credentials and untrusted
certificates stop the node at start with the reason instead of leaving it retrying.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from temporalio.client import Client

from certificates import Issued, issue, make_ca
from cluster import kafka_cluster_env
from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary
from support import unique, worker
from workflows import GreetingWorkflow

KAFKA_DIR_ENV = "CAIRN_TEST_KAFKA_DIR"


KAFKA = kafka_cluster_env(os.environ[KAFKA_DIR_ENV]) if os.environ.get(KAFKA_DIR_ENV) else {}

pytestmark = pytest.mark.skipif(
    "KAFKA_SASL_SSL_BOOTSTRAP" not in KAFKA,
    reason=f"needs a cluster from `scripts/kafka start --secure` in ${KAFKA_DIR_ENV}",
)


def _secret_file(directory: Path, name: str, value: str) -> Path:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def _add_scram_user(mechanism: str, user: str, password: str) -> None:
    """Adds a SCRAM user the way an operator does: Kafka's ConfigCommand, through the admin API."""
    subprocess.run(
        [
            "java", "-cp", f"{KAFKA['KAFKA_LIBS']}/*", "org.apache.kafka.tools.ConfigCommand",
            "--bootstrap-server", KAFKA["KAFKA_BOOTSTRAP"],
            "--alter", "--entity-type", "users", "--entity-name", user,
            "--add-config", f"{mechanism}=[iterations=8192,password={password}]",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _dev_server(bootstrap: str, flags: list[str]) -> list[str]:
    """`cairn server start-dev` on the given listeners, with security flags."""
    return [
        str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", "--kafka", bootstrap,
        "--topic-prefix", unique("sec"), *flags,
    ]


def _sasl_ssl_config(tmp_path: Path, sasl: str) -> Path:
    """A TOML file for the SASL_SSL listeners, trusting the cluster's CA, with `sasl` added."""
    config = tmp_path / "cairn.toml"
    config.write_text(
        f"""
[kafka]
bootstrap = "{KAFKA['KAFKA_SASL_SSL_BOOTSTRAP']}"
security_protocol = "sasl_ssl"

[kafka.tls]
ca_file = "{KAFKA['KAFKA_CA_FILE']}"
{sasl}"""
    )
    return config


def _plain_flags(tmp_path: Path, ca_file: str) -> list[str]:
    """Flags for the cluster's PLAIN user over SASL_SSL, trusting the CAs in `ca_file`."""
    return [
        "--kafka-security-protocol", "sasl_ssl",
        "--kafka-sasl-mechanism", "PLAIN",
        "--kafka-sasl-username", KAFKA["KAFKA_PLAIN_USER"],
        "--kafka-sasl-password-file",
        str(_secret_file(tmp_path, "password", KAFKA["KAFKA_PLAIN_PASSWORD"])),
        "--kafka-tls-ca-file", ca_file,
    ]


def _cluster_node(tmp_path: Path, config: Path) -> list[str]:
    """`cairn server start` with its Kafka settings in a TOML file."""
    return [
        str(cairn_binary()), "server", "start", "--config", str(config), "--port", "0",
        "--topic-prefix", unique("sec"), "--data-dir", str(tmp_path / "data"),
    ]


async def _runs_a_workflow(argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
    server = ServerProcess("cairn", argv, workdir, dict(os.environ, NO_COLOR="1", **(env or {})))
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        client = await Client.connect(address)
        queue = unique("secure")
        async with worker(client, queue):
            result = await client.execute_workflow(
                GreetingWorkflow.run, "kafka", id=unique("secure"), task_queue=queue
            )
        assert result == "Hello, kafka!"
    finally:
        server.close()


def _refused_at_start(argv: list[str], workdir: Path) -> str:
    """Runs a node that must not start; returns what it said."""
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=workdir, capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S,
        env=dict(os.environ, NO_COLOR="1"),
    )
    assert done.returncode != 0, f"started although it should not have:\n{done.stderr[-3000:]}"
    # Refused at once, not after a connection timeout's worth of retries.
    assert time.monotonic() - started < 9, done.stderr[-3000:]
    return done.stderr


async def test_scram_sha_512_over_tls_with_the_password_in_a_file(tmp_path: Path) -> None:
    user, password = unique("scram"), unique("pw")
    _add_scram_user("SCRAM-SHA-512", user, password)
    argv = _dev_server(KAFKA["KAFKA_SASL_SSL_BOOTSTRAP"], [
        "--kafka-security-protocol", "sasl_ssl",
        "--kafka-sasl-mechanism", "SCRAM-SHA-512",
        "--kafka-sasl-username", user,
        "--kafka-sasl-password-file", str(_secret_file(tmp_path, "password", password)),
        "--kafka-tls-ca-file", KAFKA["KAFKA_CA_FILE"],
    ])
    await _runs_a_workflow(argv, tmp_path)


async def test_a_cluster_node_takes_scram_sha_256_from_its_config_file_and_the_password_from_the_environment(
    tmp_path: Path,
) -> None:
    # All digits: the environment's value is the password's text, not a number.
    user, password = unique("scram"), str(uuid.uuid4().int)[:12]
    _add_scram_user("SCRAM-SHA-256", user, password)
    config = _sasl_ssl_config(tmp_path, f"""
[kafka.sasl]
mechanism = "SCRAM-SHA-256"
username = "{user}"
""")
    await _runs_a_workflow(
        _cluster_node(tmp_path, config), tmp_path, {"CAIRN__KAFKA__SASL__PASSWORD": password}
    )


async def test_plain_over_tls(tmp_path: Path) -> None:
    argv = _dev_server(KAFKA["KAFKA_SASL_SSL_BOOTSTRAP"], _plain_flags(tmp_path, KAFKA["KAFKA_CA_FILE"]))
    await _runs_a_workflow(argv, tmp_path)


async def test_mutual_tls_with_a_client_certificate_signed_by_the_cluster_ca(tmp_path: Path) -> None:
    kafka_ca = Issued(Path(KAFKA["KAFKA_CA_FILE"]), Path(KAFKA["KAFKA_CA_KEY_FILE"]))
    node = issue(tmp_path, "cairn-node", kafka_ca)
    cert, key = node.cert, node.key
    argv = _dev_server(KAFKA["KAFKA_SSL_BOOTSTRAP"], [
        "--kafka-security-protocol", "ssl",
        "--kafka-tls-ca-file", KAFKA["KAFKA_CA_FILE"],
        "--kafka-tls-cert-file", str(cert),
        "--kafka-tls-key-file", str(key),
    ])
    await _runs_a_workflow(argv, tmp_path)


class _TokenEndpoint(BaseHTTPRequestHandler):
    """An OpenID Connect token endpoint for the client credentials grant, issuing the unsecured
    JWTs (`alg: none`) that the test cluster's OAUTHBEARER validator accepts."""

    client_id = "cairn-client"
    client_secret = "cairn-secret"
    grants: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}" or "grant_type=client_credentials" not in body:
            self.send_response(401)
            self.end_headers()
            return
        self.grants.append(body)

        def part(value: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        now = int(time.time())
        token = f"{part({'alg': 'none'})}.{part({'sub': 'cairn-oidc', 'iat': now, 'exp': now + 3600})}."
        answer = json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()


async def test_oauthbearer_with_tokens_from_an_oidc_endpoint(tmp_path: Path, token_endpoint: str) -> None:
    secret = _secret_file(tmp_path, "client-secret", _TokenEndpoint.client_secret)
    config = _sasl_ssl_config(tmp_path, f"""
[kafka.sasl]
mechanism = "OAUTHBEARER"

[kafka.sasl.oauthbearer]
token_endpoint = "{token_endpoint}"
client_id = "{_TokenEndpoint.client_id}"
client_secret_file = "{secret}"
scope = "kafka"
""")
    grants_before = len(_TokenEndpoint.grants)
    await _runs_a_workflow(_cluster_node(tmp_path, config), tmp_path)
    assert len(_TokenEndpoint.grants) > grants_before, "the node never asked the endpoint for a token"


def test_a_wrong_password_stops_the_node_at_start_with_the_reason(tmp_path: Path) -> None:
    user = unique("scram")
    _add_scram_user("SCRAM-SHA-512", user, "right-password")
    argv = _dev_server(KAFKA["KAFKA_SASL_SSL_BOOTSTRAP"], [
        "--kafka-security-protocol", "sasl_ssl",
        "--kafka-sasl-mechanism", "SCRAM-SHA-512",
        "--kafka-sasl-username", user,
        "--kafka-sasl-password-file", str(_secret_file(tmp_path, "password", "wrong-password")),
        "--kafka-tls-ca-file", KAFKA["KAFKA_CA_FILE"],
    ])
    said = _refused_at_start(argv, tmp_path)
    assert "refused the connection" in said and "Authentication failed" in said, said[-3000:]
    assert "wrong-password" not in said


def test_a_broker_certificate_from_an_untrusted_ca_stops_the_node_at_start(tmp_path: Path) -> None:
    stranger = make_ca(tmp_path, "stranger").cert
    argv = _dev_server(KAFKA["KAFKA_SASL_SSL_BOOTSTRAP"], _plain_flags(tmp_path, str(stranger)))
    said = _refused_at_start(argv, tmp_path)
    assert "refused the connection" in said and "certificate verify failed" in said, said[-3000:]


def test_a_client_certificate_the_brokers_do_not_trust_stops_the_node_at_start(tmp_path: Path) -> None:
    impostor = issue(tmp_path, "impostor", make_ca(tmp_path, "stranger"))
    cert, key = impostor.cert, impostor.key
    argv = _dev_server(KAFKA["KAFKA_SSL_BOOTSTRAP"], [
        "--kafka-security-protocol", "ssl",
        "--kafka-tls-ca-file", KAFKA["KAFKA_CA_FILE"],
        "--kafka-tls-cert-file", str(cert),
        "--kafka-tls-key-file", str(key),
    ])
    said = _refused_at_start(argv, tmp_path)
    assert "refused the connection" in said and "SSL" in said, said[-3000:]


def test_settings_that_cannot_work_are_refused_with_what_to_change(tmp_path: Path) -> None:
    argv = _dev_server(KAFKA["KAFKA_SASL_SSL_BOOTSTRAP"], [
        "--kafka-security-protocol", "ssl",
        "--kafka-sasl-mechanism", "SCRAM-SHA-512",
        "--kafka-sasl-username", "someone",
    ])
    said = _refused_at_start(argv, tmp_path)
    assert "set security_protocol to sasl_ssl" in said, said[-3000:]
