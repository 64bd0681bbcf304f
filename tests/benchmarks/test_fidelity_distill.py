"""The student fidelity benchmark runs end to end (tiny sizes) and prints its table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# The session's world fixtures (its CLIP and start decoder, trained in a few minutes) run inside
# the first test that needs them, so these tests get more than the suite's per-test limit.
pytestmark = pytest.mark.timeout(1500)

REPO = Path(__file__).resolve().parents[2]


def test_fidelity_distill_smoke_prints_the_student_table(
    tmp_path: Path, world_clip: Path, world_decoder: Path, world_vgg_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # The world's CLIP and start decoder are the session's (shared with the fidelity test), not trained again.
    weights = ["--clip", str(world_clip), "--vgg", str(world_vgg_path), "--decoder", str(world_decoder)]
    command = [
        sys.executable,
        "-m",
        "benchmarks.fidelity.distill",
        "--smoke",
        "--styles",
        "red",
        *weights,
        "--json",
        str(tmp_path / "out.json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| prompt | student PSNR vs teacher | student SSIM vs teacher | teacher shift | student shift | ratio |" in done.stdout
    assert re.search(r"^\| red \| [\d.]+ dB \| [\d.]+ \| [+-][\d.]+ \| [+-][\d.]+ \| -?\d+% \| \d+ KiB \|$", done.stdout, re.M), done.stdout
    (row,) = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert row["style"] == "red" and row["psnr"] > 0 and -1 <= row["ssim"] <= 1
    assert row["student_bytes"] < row["teacher_bytes"]
