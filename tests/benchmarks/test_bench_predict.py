"""The predict benchmark runs end to end (tiny sizes) and prints its comparison table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_predict.py"


def test_bench_predict_smoke_prints_ratios_and_memory() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # The figures name their machine and the precision each side ran in (the product's: the rule's choice).
    assert re.search(r"CPU: .+ \| capability \w+ \| bf16 (native|emulated)", done.stdout), done.stdout
    assert re.search(r"precision: plain 32-true, product (bf16-mixed|32-true) \(auto\)", done.stdout), done.stdout
    assert "| image | plain fp32 images/s | product images/s | speed-up | plain peak RSS | product peak RSS | memory ratio |" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("| 64x64 tiled |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > 0
    assert re.fullmatch(r"\d+\.\d\dx", cells[3]) and re.fullmatch(r"[\d.]+ (MiB|GiB)", cells[5])
    match = re.search(r"max \|diff\| = ([\d.]+), mean \|diff\| = ([\d.]+)", done.stdout)
    assert match and 0 <= float(match[1]) < 0.05 and float(match[2]) <= float(match[1])
    # The distilled student's table, measured in the same run.
    assert "| image | student images/s | vs plain fp32 | vs product | student peak RSS |" in done.stdout
    student = next(line for line in done.stdout.splitlines() if line.startswith("| 64x64 tiled |") and line.count("|") == 6)
    cells = [c.strip() for c in student.strip("|").split("|")]
    assert float(cells[1]) > 0 and re.fullmatch(r"\d+\.\d\dx", cells[2]) and re.fullmatch(r"\d+\.\d\dx", cells[3])
    # The any-prompt checkpoint at a prompt, beside the per-prompt product.
    header = "| image | per-prompt images/s | any-prompt images/s | any-prompt time / per-prompt time | any-prompt peak RSS |"
    lines = done.stdout.splitlines()
    row = lines[lines.index(header) + 2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "64x64 tiled" and float(cells[1]) > 0 and float(cells[2]) > 0 and float(cells[3]) > 0
