"""The official Temporal TypeScript SDK (npm `@temporalio/client` and `@temporalio/worker`)
against Cairn: `tests/typescript/src/smoke.js` runs a worker and a client through activities,
timers, signals, queries, updates, a child workflow, continue-as-new, a reset and a schedule."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[1] / "typescript" / "src" / "smoke.js"
CHECKS = [
    "activity and timer: ok",
    "update, signal and query: ok",
    "child workflow: ok",
    "continue-as-new: ok",
    "describe: ok",
    "reset: ok",
    "schedule: ok",
]


@pytest.mark.timeout(180)
async def test_the_typescript_sdk_runs_its_workflows_on_cairn(target: str) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is missing: run scripts/setup"
    assert (SMOKE.parents[1] / "node_modules").is_dir(), "run scripts/setup (npm ci)"
    process = await asyncio.create_subprocess_exec(
        node,
        str(SMOKE),
        target,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=150)
    text = output.decode(errors="replace")
    sys.stdout.write(text)
    assert process.returncode == 0, text
    assert [line for line in text.splitlines() if line.endswith(": ok")] == CHECKS, text
