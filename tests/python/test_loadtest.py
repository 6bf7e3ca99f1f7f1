"""`cairn-loadtest` against a dev server, briefly: each shape completes with correct results
and a well-formed report, and iterations that go wrong are counted, shown and fail the run.
The figures themselves live in the README, not in tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from certificates import Issued, issue, make_ca
from conftest import STARTUP_TIMEOUT_S, ServerProcess, cairn_binary
from support import eventually


def loadtest_binary() -> Path:
    """$CAIRN_LOADTEST_BIN, else the build next to the cairn binary under test."""
    if os.environ.get("CAIRN_LOADTEST_BIN"):
        return Path(os.environ["CAIRN_LOADTEST_BIN"])
    binary = cairn_binary().parent / "cairn-loadtest"
    if not binary.exists():
        pytest.fail(f"cairn-loadtest not found at {binary}: cargo build -p cairn-loadtest")
    return binary


def run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [str(loadtest_binary()), *args, "--report", str(report), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return result, (json.loads(report.read_text()) if report.exists() else {})


def test_a_closed_loop_completes_every_iteration_with_its_figures(
    cairn: str, tmp_path: Path
) -> None:
    result, report = run(
        tmp_path, "--target", f"name=dev,address={cairn}",
        "--concurrency", "4", "--iterations", "40", "--warmup", "0s",
    )
    assert result.returncode == 0, result.stderr
    assert report["scenario"] == "workflow_with_single_noop_activity"
    assert report["shape"] == {"kind": "closed", "concurrency": 4}
    [target] = report["targets"]
    summary = target["summary"]
    assert target["name"] == "dev"
    assert summary["completed"] == 40
    assert summary["errors"] == {}
    latency = summary["end_to_end_latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert summary["start_latency_ms"]["count"] == 40
    # The lean worker took both tasks of every workflow and saw when each was scheduled.
    assert summary["workflow_task_schedule_to_start_ms"]["count"] >= 80
    assert summary["activity_task_schedule_to_start_ms"]["count"] >= 40
    assert sum(second["completed"] for second in summary["timeline"]) == 40
    assert summary["end_to_end_distribution"][-1][1] == 1.0
    assert target["cpu"]["worker_seconds"] >= 0
    assert "per second" in result.stdout and "dev" in result.stdout


@pytest.mark.parametrize(
    ("scenario", "size", "tasks"),
    [
        # Each workflow runs 5 activities: at least 5 activity tasks an iteration.
        ("fan_out", ["--activities", "5"], {"activity": 5}),
        # 4 timers fire into at least one more workflow task after the first.
        ("many_timers", ["--timers", "4"], {"workflow": 2}),
        # 20 signals, sent at once, each counted by the workflow (which may take them all
        # in its first task).
        ("signal_storm", ["--signals", "20"], {"workflow": 1}),
        # Two runs and a child: 5 activities and at least 5 workflow tasks an iteration.
        ("throughput_stress", [], {"activity": 4, "workflow": 5}),
        # The triggered workflow runs its activity.
        ("schedules", [], {"activity": 1}),
    ],
)
def test_every_scenario_completes_with_checked_results(
    target: str, tmp_path: Path, scenario: str, size: list[str], tasks: dict[str, int]
) -> None:
    iterations = 6
    result, report = run(
        tmp_path, "--target", target, "--scenario", scenario, *size,
        "--concurrency", "3", "--iterations", str(iterations), "--warmup", "0s",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["scenario"] == scenario
    summary = report["targets"][0]["summary"]
    assert summary["completed"] == iterations
    assert summary["errors"] == {}
    for kind, least in tasks.items():
        taken = summary[f"{kind}_task_schedule_to_start_ms"]["count"]
        assert taken >= least * iterations, (kind, taken)


def own_dev_server(workdir: Path, *flags: object) -> ServerProcess:
    server = ServerProcess(
        "cairn-loadtest-target",
        [str(cairn_binary()), "server", "start-dev", "--headless", "--port", "0", *map(str, flags)],
        workdir,
        dict(os.environ, NO_COLOR="1"),
    )
    server.wait_ready(STARTUP_TIMEOUT_S)
    return server


def test_a_tls_target_is_loaded_with_its_ca_and_a_client_certificate(tmp_path: Path) -> None:
    ca: Issued = make_ca(tmp_path, "loadtest-ca")
    server_cert, client_cert = issue(tmp_path, "server", ca), issue(tmp_path, "client", ca)
    server = own_dev_server(
        tmp_path, "--tls-cert-file", server_cert.cert, "--tls-key-file", server_cert.key,
        "--tls-client-ca-file", ca.cert,
    )
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        port = address.rsplit(":", 1)[1]
        common = ["--target", f"localhost:{port}", "--iterations", "5", "--warmup", "0s"]
        # Without the client certificate the server refuses the connection.
        refused, _ = run(tmp_path, *common, "--tls-ca", str(ca.cert))
        assert refused.returncode != 0
        result, report = run(
            tmp_path, *common, "--tls-ca", str(ca.cert),
            "--tls-cert", str(client_cert.cert), "--tls-key", str(client_cert.key),
        )
        assert result.returncode == 0, result.stderr
        assert report["targets"][0]["summary"]["completed"] == 5
    finally:
        server.close()


async def test_server_cpu_and_memory_are_scraped_from_its_metrics_endpoint(
    tmp_path: Path,
) -> None:
    server = own_dev_server(tmp_path)
    try:
        address = server.wait_ready(STARTUP_TIMEOUT_S)
        marker = "cairn metrics listening on "

        async def printed() -> list[str]:
            return [line for line in server.tail().splitlines() if marker in line]

        [line] = await eventually(printed, bool, timeout=10, what="the metrics address")
        metrics = f"http://{line.split(marker, 1)[1].split()[0]}/metrics"
        result, report = await asyncio.to_thread(
            run, tmp_path, "--target", f"name=scraped,address={address},metrics={metrics}",
            "--concurrency", "4", "--iterations", "200", "--warmup", "0s",
        )
        assert result.returncode == 0, result.stderr
        [target] = report["targets"]
        assert target["cpu"]["server_seconds"] > 0
        assert target["server_rss_bytes"] > 10 * 2**20
        assert target["server_cpu_ms_per_iteration"] > 0
    finally:
        server.close()


def test_an_open_loop_measures_from_when_each_iteration_was_due(
    cairn: str, tmp_path: Path
) -> None:
    result, report = run(
        tmp_path, "--target", cairn, "--rate", "40", "--iterations", "30", "--warmup", "0s",
    )
    assert result.returncode == 0, result.stderr
    assert report["shape"] == {"kind": "open", "rate": 40.0}
    summary = report["targets"][0]["summary"]
    assert summary["completed"] == 30
    # 30 iterations at 40/s take at least 0.7 s to start.
    assert summary["seconds"] >= 0.7


def test_iterations_that_go_wrong_are_counted_shown_and_fail_the_run(
    cairn: str, tmp_path: Path
) -> None:
    result, report = run(
        tmp_path, "--target", cairn, "--namespace", "no-such-namespace",
        "--concurrency", "2", "--iterations", "6", "--warmup", "0s",
    )
    assert result.returncode != 0
    summary = report.get("targets", [{}])[0].get("summary") if report else None
    # The report is written before the run fails, so the errors can be read.
    assert summary is not None, result.stderr
    assert summary["completed"] == 0
    assert summary["errors"]["start: NotFound"] == 6
    assert "6 × start: NotFound" in result.stdout
    assert "errors (listed under the table)" in result.stderr


def test_a_target_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "--target", "127.0.0.1:1", "--iterations", "1")
    assert result.returncode != 0
    assert "connecting to http://127.0.0.1:1" in result.stderr


def test_a_bad_target_says_what_it_takes(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "--target", "colour=red", "--iterations", "1")
    assert result.returncode == 2
    assert "no key `colour`" in result.stderr


@pytest.mark.parametrize("bad", [["--rate", "0"], ["--scenario", "nonsense"]])
def test_bad_shapes_and_scenarios_are_refused(bad: list[str], tmp_path: Path) -> None:
    result, _ = run(tmp_path, "--target", "127.0.0.1:1", *bad)
    assert result.returncode != 0
    assert result.stderr.strip()
