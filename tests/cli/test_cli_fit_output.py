"""What `fit` and `pretrain` print and leave behind, through the real command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from support import fit_args as small_fit
from support import run_cli

ROOT = Path(__file__).resolve().parents[2]
CHATTER = ("GPU available", "TPU available", "HPU available", "litlogger", "litmodels", "Tip:", "rank_zero_warn(", "UserWarning")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that the progress bar's line holds every field this file checks.
    return run_cli(*args, cwd=cwd, env={"COLUMNS": "200"})


def fit_args(clip: Path | str, vgg: Path, content: Path | str, steps: int) -> list[str]:
    # With the product's default logger and progress bar: this file checks them.
    return small_fit(clip, vgg, content, checkpoints="runs", steps=steps, logger=True, progress=True)


@pytest.mark.slow
def test_fit_logs_in_its_run_folder_counts_steps_and_resumes_the_same_log(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    first = run(tmp_path, *fit_args(clip_path, vgg_path, content_dir, 1))
    assert first.returncode == 0, first.stderr[-3000:]
    run_folder = tmp_path / "runs" / "mosaic"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no ./lightning_logs
    assert [p.name for p in (run_folder / "logs").iterdir()] == ["version_0"]
    bar = first.stdout.replace("\r", "\n")
    assert "0/1 [" in bar and "1/1 [" in bar and "step/s" in bar and "<" in bar  # steps of max_steps, time left
    for text in CHATTER:
        assert text not in first.stdout + first.stderr, text
    assert "warning: starting the decoder from RANDOM weights" in first.stderr

    again = run(tmp_path, *fit_args(clip_path, vgg_path, content_dir, 2), "--ckpt_path", "last")
    assert again.returncode == 0, again.stderr[-3000:]
    assert [p.name for p in (run_folder / "logs").iterdir()] == ["version_0"]  # the same log, continued
    bar = again.stdout.replace("\r", "\n")
    assert "1/2 [" in bar and "2/2 [" in bar and "0/2 [" not in bar  # continues from the saved step
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


@pytest.mark.slow
def test_refusals_come_before_any_weights_load_and_leave_nothing(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    missing_clip = tmp_path / "no-such-clip.pt"

    def refused(*args: str) -> str:
        result = run(tmp_path, *args)
        assert result.returncode == 2, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected), "something was created"
        return lines[-1]

    expected = ["no-such-clip.pt"]
    missing_clip.write_bytes(b"")  # present, but no CLIP model: loading it would fail
    assert "no-such-folder" in refused(*fit_args(missing_clip, vgg_path, tmp_path / "no-such-folder", 1))
    missing_clip.unlink()
    expected = []
    assert "--trainer.max_steps -5" in refused(*fit_args(missing_clip, vgg_path, content_dir, -5))
    # A budget of 0 steps trains nothing: refused, from the command line or a config file, with what to give.
    assert "--trainer.max_steps 0: trains nothing; give a number of optimizer steps" in refused(
        *fit_args(missing_clip, vgg_path, content_dir, 0)
    )
    expected = ["zero-steps.yaml"]
    (tmp_path / "zero-steps.yaml").write_text("trainer:\n  max_steps: 0\n")
    assert "--trainer.max_steps 0: trains nothing" in refused(
        *fit_args(missing_clip, vgg_path, content_dir, 1), "--config", "zero-steps.yaml"
    )
    (tmp_path / "zero-steps.yaml").unlink()
    expected = []
    # A start-up failure of the weights themselves leaves nothing either.
    assert "no-such-clip.pt" in refused(*fit_args(missing_clip, vgg_path, content_dir, 1))

    # A weights-only file and an earlier run are refused before CLIP (missing here) is needed.
    style = tmp_path / "runs" / "mosaic"
    style.mkdir(parents=True)
    torch.save({"state_dict": {}}, style / "style.ckpt")
    expected = ["runs"]
    line = refused(*fit_args(missing_clip, vgg_path, content_dir, 1), "--ckpt_path", str(style / "style.ckpt"))
    assert "holds the weights only" in line
    torch.save({"state_dict": {}, "optimizer_states": []}, style / "last.ckpt")
    assert "already holds an earlier run" in refused(*fit_args(missing_clip, vgg_path, content_dir, 1))
