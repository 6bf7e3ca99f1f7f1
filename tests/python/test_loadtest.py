"""`cairn-loadtest` against a dev server, briefly: each shape completes with correct results
and a well-formed report, and iterations that go wrong are counted, shown and fail the run.
The figures themselves live in the README, not in tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import cairn_binary


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
