"""The consistency term of training (--model.lambda_consistency, --model.consistency_share) through
the command line: per-prompt `fit` and its resume, the any-prompt network, and `distill`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from support import distill_args, fit_args, run_cli, style_checkpoint

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
OPTION = ["--model.lambda_consistency", "5", "--model.consistency_share", "0.5"]


def logged(root: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(next(root.rglob("metrics.csv")).open()))


def csv_logger(root: Path) -> list[str]:
    return ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", str(root / "logs")]


def small_fit(root: Path, clip: Path, vgg: Path, data: Path, steps: int, *extra: str) -> list[str]:
    every = ["--checkpoint.every_n_train_steps", "1", "--trainer.log_every_n_steps", "1", "--seed_everything", "0"]
    return fit_args(clip, vgg, data, *every, *csv_logger(root), *OPTION, *extra, checkpoints=root / "ck", steps=steps, batch=4, crop=40)


@pytest.mark.slow
def test_fit_with_the_term_logs_it_records_it_and_resumes_exactly(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    done = run_cli(*small_fit(straight, clip_path, vgg_path, content_dir, 3), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    hparams = torch.load(straight / "ck" / "mosaic" / "style.ckpt", weights_only=True)["hyper_parameters"]
    assert (hparams["lambda_consistency"], hparams["consistency_share"]) == (5.0, 0.5)
    terms = [float(row["train/consistency"]) for row in logged(straight) if row.get("train/consistency")]
    assert len(terms) == 3 and all(0 < term < 1 for term in terms), terms

    # Two steps, then `--ckpt_path last` to the third: the warps are drawn again as they were.
    assert run_cli(*small_fit(interrupted, clip_path, vgg_path, content_dir, 2), cwd=tmp_path).returncode == 0
    resumed = run_cli(*[*small_fit(interrupted, clip_path, vgg_path, content_dir, 3), "--ckpt_path", "last"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ours = torch.load(interrupted / "ck" / "mosaic" / "last.ckpt", weights_only=True)
    ref = torch.load(straight / "ck" / "mosaic" / "last.ckpt", weights_only=True)
    assert ours["global_step"] == ref["global_step"] == 3
    assert all(torch.equal(ours["state_dict"][k], v) for k, v in ref["state_dict"].items())


def test_a_share_outside_zero_to_one_is_one_error_line(tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path) -> None:
    result = run_cli(
        *fit_args(clip_path, vgg_path, content_dir, "--model.consistency_share", "0", checkpoints=tmp_path / "ck"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --model.consistency_share 0: outside (0, 1]; give a share of the batch in (0, 1], e.g. 0.5"
    ]


@pytest.mark.slow
def test_the_any_prompt_network_and_a_student_train_with_the_term(
    tmp_path: Path, clip_path: Path, vgg_path: Path, content_dir: Path
) -> None:
    bank = tmp_path / "bank.txt"
    bank.write_text("Red\nBlue\nMosaic\nGold\n")
    any_root = tmp_path / "any"
    args = small_fit(any_root, clip_path, vgg_path, content_dir, 1, "--data.prompts", str(bank), "--model.holdout_prompts", "1")
    args.remove("--model.prompt"), args.remove("Mosaic")
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [row["train/consistency"] for row in logged(any_root) if row.get("train/consistency")]

    style = style_checkpoint(tmp_path / "teacher", "Mosaic", trained=(clip_path, vgg_path, content_dir))
    students = tmp_path / "students"
    log = [*csv_logger(students), "--trainer.log_every_n_steps", "1"]
    done = run_cli(*distill_args(style, content_dir, students, *OPTION, *log, steps=2), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    hparams = torch.load(students / "mosaic-student" / "student.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["lambda_consistency"] == 5.0
    assert [row["train/consistency"] for row in logged(students) if row.get("train/consistency")]
