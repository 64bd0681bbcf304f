"""Train a tiny style checkpoint through the real ``clipstyler-fast fit`` (one step, tiny CLIP and crops)."""

from __future__ import annotations

from pathlib import Path

from clipstyler_fast.train.checkpoint_callback import slugify
from clipstyler_fast.cli.main import main


def train_style(root: Path, prompt: str, clip_path: Path, vgg_path: Path, content_dir: Path, seed: int = 0) -> Path:
    """Run ``fit`` in-process for one step and return the written ``style.ckpt``."""
    rc = main(
        [
            "fit",
            f"--seed_everything={seed}",
            "--model.prompt", prompt,
            "--model.clip_model", str(clip_path),
            "--model.vgg_weights", str(vgg_path),
            "--model.decoder_init", "random",
            "--model.num_views", "2",
            "--model.preview_every_n_steps", "0",
            "--data.path", str(content_dir),
            "--data.crop_size", "32",
            "--data.batch_size", "2",
            "--data.num_workers", "0",
            "--trainer.max_steps", "1",
            "--trainer.accelerator", "cpu",
            "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false",
            "--trainer.default_root_dir", str(root),
            "--checkpoint.root", str(root / "checkpoints"),
        ]
    )
    assert rc == 0
    path = root / "checkpoints" / slugify(prompt) / "style.ckpt"
    assert path.is_file()
    return path
