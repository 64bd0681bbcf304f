"""The student fidelity benchmark runs end to end (tiny sizes) and prints its table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# The session's world fixtures (its CLIP and start decoder, trained in a few minutes) run inside
# the first test that needs them, so these tests get more than the suite's per-test limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]


def test_fidelity_distill_smoke_prints_the_student_table(
    tmp_path: Path, world_clip: Path, world_decoder: Path, world_vgg_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # The world's CLIP and start decoder are the session's (shared with the fidelity test), not trained again.
    weights = ["--clip", str(world_clip), "--vgg", str(world_vgg_path), "--decoder", str(world_decoder)]
    workdir = tmp_path / "work"
    command = [
        sys.executable,
        "-m",
        "benchmarks.fidelity.distill",
        "--smoke",
        "--styles",
        "red",
        "--workdir",
        str(workdir),
        *weights,
        "--json",
        str(tmp_path / "out.json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| prompt | student PSNR vs teacher | student SSIM vs teacher | teacher shift | student shift | ratio |" in done.stdout
    row = r"^\| red \| [\d.]+ dB \| [\d.]+ \| [+-][\d.]+ \| [+-][\d.]+ \| -?\d+% \| -?[\d.]+ / -?[\d.]+ \| [A-Z a-z]+ / [A-Z a-z]+ \| \d+ KiB \|$"
    assert re.search(row, done.stdout, re.M), done.stdout
    (row,) = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert row["style"] == "red" and row["psnr"] > 0 and -1 <= row["ssim"] <= 1
    assert row["student_bytes"] < row["teacher_bytes"]

    # An interrupted benchmark goes on where it stopped: the same teacher, and the student's run
    # continued from its last.ckpt to the new step count.
    teacher = next((workdir / "checkpoints").glob("*/style.ckpt"))
    written = teacher.stat().st_mtime_ns
    resumed = [*command, "--reuse-teachers", "--resume-students", "--distill-steps", "4"]
    done = subprocess.run(resumed, capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert teacher.stat().st_mtime_ns == written
    (last,) = (workdir / "students").glob("*-student/last.ckpt")
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 4
