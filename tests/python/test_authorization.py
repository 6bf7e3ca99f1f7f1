"""Authorization as Temporal's default JWT claim mapper and authorizer do it: bearer tokens
signed by keys from a JSON Web Key Set, whose `permissions` claim lists `namespace:role`
entries. The official Python SDK sends them as API keys, the `temporal` CLI with --api-key.
A call the token does not allow gets PermissionDenied "Request unauthorized.".
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import ListNamespacesRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary, cli_env, temporal_cli_path
from support import unique, worker
from workflows import GreetingWorkflow

pytestmark = pytest.mark.timeout(180)

OTHER = "authz-other"


@dataclass
class Issuer:
    """Signs tokens with the keys of the server's key set (RS256 and ES256)."""

    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    def token(
        self,
        *permissions: str,
        algorithm: str = "RS256",
        expires_in: float = 600,
        kid: str | None = None,
        key: object | None = None,
    ) -> str:
        claims = {"sub": "tester", "permissions": list(permissions), "exp": int(time.time() + expires_in)}
        signing = key or (self.rsa_key if algorithm == "RS256" else self.ec_key)
        kid = kid or ("rsa-key" if algorithm == "RS256" else "ec-key")
        return jwt.encode(claims, signing, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("authz")
    keys = []
    for kid, key, algorithm in (
        ("rsa-key", issuer.rsa_key.public_key(), RSAAlgorithm),
        ("ec-key", issuer.ec_key.public_key(), ECAlgorithm),
    ):
        jwk = json.loads(algorithm.to_jwk(key))
        keys.append(dict(jwk, kid=kid))
    jwks = workdir / "jwks.json"
    jwks.write_text(json.dumps({"keys": keys}))
    process = ServerProcess(
        "cairn-authz",
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", "--namespace", OTHER,
         "--jwt-key-source", str(jwks)],
        workdir,
        dict(os.environ, NO_COLOR="1"),
    )
    try:
        yield process.wait_ready(STARTUP_TIMEOUT_S)
    finally:
        process.close()


def connect(server: str, token: str | None, namespace: str = "default"):  # noqa: ANN201
    return Client.connect(server, api_key=token, tls=False, namespace=namespace)


async def refused(call: Callable[[], object]) -> None:
    with pytest.raises(RPCError) as error:
        await call()  # type: ignore[misc]
    assert error.value.status == RPCStatusCode.PERMISSION_DENIED
    assert "Request unauthorized." in str(error.value)


async def test_a_reader_lists_but_cannot_start(server: str, issuer: Issuer) -> None:
    reader = await connect(server, issuer.token("default:read", algorithm="ES256"))
    await reader.count_workflows()
    await refused(lambda: reader.start_workflow("Anything", id=unique("r"), task_queue=unique("q")))


async def test_a_writer_of_one_namespace_cannot_touch_another(server: str, issuer: Issuer) -> None:
    token = issuer.token("default:write")
    writer = await connect(server, token)
    handle = await writer.start_workflow("Anything", id=unique("w"), task_queue=unique("q"))
    await handle.describe()
    elsewhere = await connect(server, token, namespace=OTHER)
    await refused(lambda: elsewhere.start_workflow("Anything", id=unique("w"), task_queue=unique("q")))
    await refused(lambda: elsewhere.count_workflows())


async def test_a_worker_token_polls_and_completes_but_cannot_start(server: str, issuer: Issuer) -> None:
    starter = await connect(server, issuer.token("default:write"))
    working = await connect(server, issuer.token("default:worker"))
    queue = unique("authz")
    async with worker(working, queue):
        result = await starter.execute_workflow(
            GreetingWorkflow.run, "worker", id=unique("authz"), task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert result == "Hello, worker!"
    await refused(lambda: working.start_workflow("Anything", id=unique("w"), task_queue=queue))
    await refused(lambda: working.count_workflows())


async def test_a_call_without_a_token_or_with_a_bad_one_is_refused(server: str, issuer: Issuer) -> None:
    anonymous = await connect(server, None)  # GetSystemInfo needs no token, as on Temporal
    await refused(lambda: anonymous.count_workflows())
    stranger = rsa.generate_private_key(65537, 2048)
    for token in (
        issuer.token("default:admin", expires_in=-60),  # expired
        issuer.token("default:admin", key=stranger),  # signed by a key the server does not have
        issuer.token("default:admin", kid="unknown-key"),
        jwt.encode({"permissions": ["default:admin"]}, "shared-secret", algorithm="HS256",
                   headers={"kid": "rsa-key"}),  # a method Temporal does not accept
        "not-a-jwt",
    ):
        with pytest.raises((RPCError, RuntimeError)) as error:
            client = await connect(server, token)
            await client.count_workflows()
        assert "unauthorized" in str(error.value).lower() or "PermissionDenied" in str(error.value)


async def test_admin_roles_govern_namespaces_and_search_attributes(server: str, issuer: Issuer) -> None:
    name = unique("authz-ns")
    request = RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period={"seconds": 86400}
    )
    namespace_writer = await connect(server, issuer.token("default:write"))
    await refused(lambda: namespace_writer.workflow_service.register_namespace(request))
    system_admin = await connect(server, issuer.token("temporal-system:admin"))
    await system_admin.workflow_service.register_namespace(request)
    attribute = AddSearchAttributesRequest(
        namespace=name,
        search_attributes={"AuthzTier": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
    )
    writer_there = await connect(server, issuer.token(f"{name}:write"), namespace=name)
    await refused(lambda: writer_there.operator_service.add_search_attributes(attribute))
    admin_there = await connect(server, issuer.token(f"{name}:admin"), namespace=name)
    await admin_there.operator_service.add_search_attributes(attribute)
    # Listing namespaces is a cluster call: a namespace's admin holds no system role.
    await refused(lambda: admin_there.workflow_service.list_namespaces(ListNamespacesRequest()))
    short_admin = await connect(server, issuer.token("system:admin"))
    await short_admin.count_workflows()


def test_the_temporal_cli_with_an_api_key(server: str, issuer: Issuer) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [temporal_cli_path(), "workflow", "list", "--address", server, "--tls=false",
             "--command-timeout", "20s", *args],
            capture_output=True, text=True, timeout=60, env=cli_env(),
        )

    allowed = cli("--api-key", issuer.token("default:read"))
    assert allowed.returncode == 0, allowed.stderr
    denied = cli("--api-key", issuer.token(f"{OTHER}:read"))
    assert denied.returncode != 0
    assert "unauthorized" in (denied.stderr + denied.stdout).lower()
