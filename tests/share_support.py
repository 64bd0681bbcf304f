"""Helpers of the shared-style tests: a folder written by ``clipstyler-fast share``, and a
Hugging Face cache laid out as huggingface_hub lays it out."""

from __future__ import annotations

import hashlib
from pathlib import Path

from clipstyler_fast.cli.main import main

CPU = ["--trainer.accelerator", "cpu"]


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
