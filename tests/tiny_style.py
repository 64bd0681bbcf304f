"""Train a tiny style checkpoint through the real ``clipstyler-fast fit`` (one step, tiny CLIP and crops)."""

from __future__ import annotations

from pathlib import Path

from support import fit_args

from clipstyler_fast.cli.main import main
from clipstyler_fast.train.run_folder import slugify


def train_style(root: Path, prompt: str, clip_path: Path, vgg_path: Path, content_dir: Path, seed: int = 0) -> Path:
    """Run ``fit`` in-process for one step and return the written ``style.ckpt``."""
    rc = main(
        fit_args(
            clip_path,
            vgg_path,
            content_dir,
            f"--seed_everything={seed}",
            "--trainer.default_root_dir",
            str(root),
            checkpoints=root / "checkpoints",
            prompt=prompt,
        )
    )
    assert rc == 0
    path = root / "checkpoints" / slugify(prompt) / "style.ckpt"
    assert path.is_file()
    return path
