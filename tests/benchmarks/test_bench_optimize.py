"""The per-image benchmark script runs end to end and prints its ratio against the published loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_smoke_run_prints_the_machine_the_flops_and_a_ratio() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_optimize.py"), "--smoke"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "capability" in out.lower() and "GFLOP per product step" in out
    ratio = re.search(r"product \(optimize\)\s+([0-9.]+)\s+([0-9.]+)x", out)
    assert ratio is not None and float(ratio.group(1)) > 0 and float(ratio.group(2)) > 0, out
