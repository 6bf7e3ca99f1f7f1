"""A Cairn cluster of separate processes around one `cairn broker start-dev`, or on the Apache
Kafka cluster started by `scripts/kafka start` (in topics of its own), for tests that kill and
restart its processes, Kafka's brokers included.

Contract with the cairn binary:

    $CAIRN_BIN broker start-dev --port 0 --partitions N
        prints `cairn broker listening on HOST:PORT` once clients can connect;
    $CAIRN_BIN server start --roles R --kafka HOST:PORT --port P --data-dir D ...
        prints `cairn frontend listening on HOST:PORT` (frontend role) and then
        `cairn node ID (ROLES) internal services listening on HOST:PORT`, then
        `cairn cluster CLUSTER_ID` and `cairn metrics listening on HOST:PORT`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary

_OWNED = re.compile(r"^(\S+Z) .*partition owned.*partition=(\d+)")
_OWNERSHIP = re.compile(r"partition (owned|released|fenced)\b.*?partition=(\d+)")


@dataclass
class Node:
    name: str
    roles: str
    port: int = 0
    process: ServerProcess | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)


def kafka_cluster_env(directory: str | Path) -> dict[str, str]:
    """The `cluster.env` of a cluster from `scripts/kafka start`."""
    values = {}
    for line in (Path(directory) / "cluster.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value.strip('"')
    return values


class Cluster:
    def __init__(
        self,
        workdir: Path,
        *,
        partitions: int = 8,
        session_timeout: str = "4s",
        kafka_dir: str | Path | None = None,
        node_args: list[str] | None = None,
    ):
        self.workdir = workdir
        self.binary = str(cairn_binary())
        self.partitions = partitions
        self.session_timeout = session_timeout
        self.env = dict(os.environ, NO_COLOR="1", RUST_BACKTRACE="1", RUST_LOG="info,librdkafka=warn,rdkafka=warn")
        self.nodes: dict[str, Node] = {}
        self.kafka_dir = Path(kafka_dir) if kafka_dir else None
        self.broker: ServerProcess | None = None
        self.topic_args: list[str] = []
        # Flags every node gets (a config file, say).
        self.node_args = node_args or []
        if self.kafka_dir is None:
            self.broker = ServerProcess(
                "broker",
                [self.binary, "broker", "start-dev", "--port", "0", "--partitions", str(partitions)],
                workdir,
                self.env,
            )
            self.bootstrap = self.broker.wait_ready(STARTUP_TIMEOUT_S)
        else:
            kafka = kafka_cluster_env(self.kafka_dir)
            self.bootstrap = kafka["KAFKA_BOOTSTRAP"]
            self.kafka_brokers = int(kafka["KAFKA_BROKERS"])
            self.topic_args = [
                "--topic-prefix", f"cluster-{os.getpid()}-{int(time.time() * 1000)}",
                "--partitions", str(partitions),
            ]

    def add(self, name: str, roles: str) -> Node:
        node = Node(name, roles)
        self.nodes[name] = node
        self.start(node)
        return node

    def start(self, node: Node) -> None:
        node.starts += 1
        argv = [
            self.binary, "server", "start",
            "--roles", node.roles,
            "--kafka", self.bootstrap,
            "--port", str(node.port),
            "--data-dir", str(self.workdir / node.name),
            "--session-timeout", self.session_timeout,
            "--log-level", "info",
            *self.topic_args,
            *self.node_args,
        ]
        node.process = ServerProcess(f"{node.name}.{node.starts}", argv, self.workdir, self.env)
        address = node.process.wait_ready(STARTUP_TIMEOUT_S)
        if "frontend" in node.roles and node.port == 0:
            # Restarts come back on the same port, where clients reconnect.
            node.port = int(address.rsplit(":", 1)[1])

    def frontend(self, name: str) -> str:
        return f"127.0.0.1:{self.nodes[name].port}"

    def kill(self, name: str) -> None:
        node = self.nodes[name]
        assert node.process is not None
        node.kills.append(time.time())
        node.process.proc.send_signal(signal.SIGKILL)
        node.process.proc.wait(10)
        node.process.close()

    def restart(self, name: str, attempts: int = 5) -> None:
        """Starts a stopped node again; as a process supervisor would, again if it exits
        while starting (it refuses to start while Kafka cannot answer it, say while a
        killed broker's partitions elect new leaders)."""
        for attempt in range(attempts):
            try:
                self.start(self.nodes[name])
                return
            # A start that fails reports it with pytest.fail, whose exception is no Exception.
            except (Exception, pytest.fail.Exception):
                if attempt == attempts - 1:
                    raise

    def freeze(self, name: str) -> None:
        """SIGSTOP: the process keeps its sockets and memory but does nothing."""
        process = self.nodes[name].process
        assert process is not None
        process.proc.send_signal(signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        process = self.nodes[name].process
        assert process is not None
        process.proc.send_signal(signal.SIGCONT)

    def address(self, name: str) -> str:
        """The first address a node printed: the frontend's, else its internal services'."""
        process = self.nodes[name].process
        assert process is not None and process.address is not None
        return process.address

    def cluster_id(self, name: str) -> str:
        """The cluster's id, as a node printed it: what calls to an internal port carry."""
        for line in self.log(name).splitlines():
            if line.startswith("cairn cluster "):
                return line.split()[2]
        raise AssertionError(f"{name} printed no cluster id")

    def internal_address(self, name: str) -> str:
        """Where a node serves its peers, as it printed it."""
        for line in self.log(name).splitlines():
            if "internal services listening on " in line:
                return line.rsplit(" ", 1)[1]
        raise AssertionError(f"{name} printed no internal address")

    def log(self, name: str) -> str:
        process = self.nodes[name].process
        assert process is not None
        return process.log_path.read_text(encoding="utf-8", errors="replace")

    def metrics(self, name: str) -> str:
        """What the node's `/metrics` answers now."""
        marker = "cairn metrics listening on "
        line = next(line for line in self.log(name).splitlines() if marker in line)
        address = line.split(marker, 1)[1].split()[0]
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
            return response.read().decode()

    def history_owners(self, partition: int) -> list[str]:
        """History nodes whose log last says they own `partition`."""
        owners = []
        for name, node in self.nodes.items():
            if "history" not in node.roles or node.process is None:
                continue
            last = None
            for match in _OWNERSHIP.finditer(self.log(name)):
                if int(match.group(2)) == partition:
                    last = match.group(1)
            if last == "owned":
                owners.append(name)
        return owners

    def takeovers(self) -> list[float]:
        """For each kill of a history node: seconds until another node owned a partition."""
        owned_at: list[float] = []
        for log in self.workdir.glob("*.log"):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                match = _OWNED.match(line)
                if match:
                    stamp = datetime.strptime(match.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f")
                    owned_at.append(stamp.replace(tzinfo=timezone.utc).timestamp())
        owned_at.sort()
        gaps = []
        for node in self.nodes.values():
            if "history" not in node.roles:
                continue
            for killed in node.kills:
                after = [t for t in owned_at if t > killed]
                if after:
                    gaps.append(after[0] - killed)
        return gaps

    def kill_kafka_broker(self, broker: int) -> None:
        """SIGKILL one of the Apache Kafka brokers and start it again (with its data); returns
        once its process runs, before it is back in sync."""
        self.stop_kafka_broker(broker)
        self.start_kafka_broker(broker)

    def stop_kafka_broker(self, broker: int) -> None:
        """SIGKILL one of the Apache Kafka brokers and wait until it is gone."""
        assert self.kafka_dir is not None
        pid = int((self.kafka_dir / f"broker-{broker}" / "pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _running(pid):
            assert time.monotonic() < deadline, f"kafka broker {broker} (pid {pid}) did not die"
            time.sleep(0.01)  # poll interval

    def start_kafka_broker(self, broker: int) -> None:
        assert self.kafka_dir is not None
        subprocess.run(
            [str(self.kafka_dir / f"broker-{broker}" / "start")],
            check=True, capture_output=True, timeout=60,
        )

    def close(self) -> None:
        for node in self.nodes.values():
            if node.process is not None:
                node.process.close()
        if self.broker is not None:
            self.broker.close()


def _running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
