"""The training benchmark script: it runs end to end and proves both loops compute one objective."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_train.py"


@pytest.fixture(autouse=True)
def lightning_log_levels_restored() -> Iterator[None]:
    """The script quiets Lightning's loggers for its own output; put their levels back afterwards
    (through setLevel, which also clears logging's cache), so that later tests in this process
    still see Lightning's messages."""
    names = ("lightning.pytorch", "lightning.fabric", "lightning")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_train", module)
    spec.loader.exec_module(module)
    return module


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def test_smoke_run_prints_timings_and_equal_losses() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        # Said native, so that the default (auto) runs the bf16 paths on any CPU (tiny tensors: fast even where emulated).
        env={**os.environ, "PYTHONWARNINGS": "ignore", "CLIPSTYLER_FAST_NATIVE_BF16": "1"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "product options: frozen_precision=auto channels_last=auto compile=False per_sample_views=True" in out
    # The figures name their machine and the number format each side ran in.
    assert re.search(r"CPU: .+ \| capability \w+ \| bf16 native", out), out
    assert "precision: reference fp32 | product frozen networks bf16 (frozen_precision=auto), decoder fp32" in out
    assert re.search(r"MFU against the measured matmul rate of the format each side ran in: fp32 [\d.]+ TFLOP/s, bf16 [\d.]+ TFLOP/s", out)

    # One table row per contender: median, min, max step seconds, CPU seconds, peak memory.
    for name in ("reference (published loop, fp32)", "product (StyleTransfer via Trainer.fit, bf16)"):
        row = re.search(re.escape(name) + r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)", out)
        assert row, out
        step, fastest, slowest, cpu, peak = (float(v) for v in row.groups())
        assert 0 < fastest <= step <= slowest and cpu > 0 and peak > 0
    assert number(r"speed-up \(reference median / product median\): ([\d.]+)x", out) > 0
    # Each side's FLOPs are its own (the product's last CLIP block runs for the class token alone).
    reference_flops = number(r"model FLOPs per step .*?: reference ([\d.]+) GFLOP", out)
    assert 0 < number(r"model FLOPs per step .*?, product ([\d.]+) GFLOP", out) <= reference_flops

    reference = number(r"reference total loss: ([\d.]+)", out)
    product = number(r"product total loss:\s+([\d.]+)", out)
    assert product == pytest.approx(reference, rel=1e-4)
    assert "losses match within fp32 tolerance: yes" in out
    fast = number(r"product with frozen_precision=auto on the same batch and warps: ([\d.]+)", out)
    assert fast == pytest.approx(reference, rel=0.02) and fast != reference


def test_a_different_objective_fails_the_loss_check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script(monkeypatch)
    bench.CLIP_WEIGHT = 20.0  # the reference now weighs the patch loss differently
    with torch.random.fork_rng():  # the script seeds torch; later tests keep their own state
        assert bench.main(["--smoke", "--order", "sequential"]) == 1
    out = capsys.readouterr().out
    assert "losses match within fp32 tolerance: NO" in out
    assert number(r"speed-up \(reference median / product median\): ([\d.]+)x", out) > 0
