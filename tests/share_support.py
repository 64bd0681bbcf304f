"""Helpers of the shared-style tests: a distilled student written directly, a folder written by
``clipstyler-fast share``, and a Hugging Face cache laid out as huggingface_hub lays it out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from predict_support import he_init

from clipstyler_fast.cli.main import main
from clipstyler_fast.nets.student import STUDENT_ARCHITECTURE, StudentConfig, build_student
from clipstyler_fast.nets.style_file import StyleFile, StyleRecord

CPU = ["--trainer.accelerator", "cpu"]


def quick_student(path: Path, teacher: Path, direction: torch.Tensor) -> Path:
    """A student file as ``distill`` writes one (its record, a He-initialised narrow student, the
    teacher's text direction), without the distillation."""
    config = StudentConfig(widths=(8, 16, 24), blocks=2, full_width=8)
    record = StyleRecord(
        prompt="Mosaic", network="student", architecture=STUDENT_ARCHITECTURE, student=config.to_dict(), teacher=str(teacher)
    )
    network = he_init(build_student(config), seed=5)
    StyleFile(record, network.state_dict(), direction, {"lr": 3e-3, "widths": [8, 16, 24]}).write(path)
    return path


def share(source: Path | str, folder: Path, *extra: str) -> Path:
    """``clipstyler-fast share`` in-process; returns the folder it wrote."""
    assert main(["share", "--ckpt_path", str(source), "--output.dir", str(folder), *CPU, *extra]) == 0
    return folder


def hub_cache(cache: Path, repo_id: str, folder: Path, commit: str, branch: str = "main") -> Path:
    """Put ``folder``'s two files in ``cache`` as huggingface_hub stores a download of ``repo_id`` at
    ``commit``: content-addressed blobs, a snapshot folder of links to them, and ``refs/<branch>``.
    Returns the snapshot folder."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    for directory in (storage / "blobs", snapshot, storage / "refs"):
        directory.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        data = (folder / name).read_bytes()
        blob = hashlib.sha256(data).hexdigest()
        (storage / "blobs" / blob).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob))
    (storage / "refs" / branch).write_text(commit)
    return snapshot
