"""The LightningModule of ``predict``: a :class:`~clipstyler_fast.stylizer.Stylizer` and nothing else.

It holds the VGG encoder and the trained decoder only; CLIP, needed for training alone, is
never loaded.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import torch

from clipstyler_fast.errors import CheckpointError, first_line
from clipstyler_fast.infer.stylizer import DEFAULT_TILE_ABOVE, DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE, Stylizer, to_uint8


class StylizerModule(L.LightningModule):
    """Stylizes predict batches with a trained style checkpoint.

    Args:
        checkpoint: the style checkpoint (set from ``--ckpt_path``).
        prompt: the style of an any-prompt checkpoint, in words (set from ``--prompt``).
        postprocess: ``clamp`` to [0, 1], or ``contrast`` (the reference's contrast boost and
            per-image min-max scaling).
        strength: how much of the style, in [0, 1] (0: the photo, 1: the full style).
        preserve_colors: keep the photo's colours (the style's luminance, the photo's chroma).
        tile_size: tile side for large images (multiple of 8).
        tile_overlap: overlap of neighbouring tiles (multiple of 8, at most a third of the tile).
        tile_above: images with more pixels than this are stylized in tiles.
        clip_model: a local copy of the CLIP model an any-prompt checkpoint was trained with, for a
            prompt outside its bank that is not cached yet (only its text tower runs, once).
        vgg_weights: a local copy of the encoder weights the checkpoint was trained on, instead of
            the source it records (offline machines); the file's layout must be that encoder's.
        channels_last: channels-last memory layout for the convolutions.
    """

    def __init__(
        self,
        checkpoint: str | None = None,
        prompt: str | None = None,
        postprocess: Literal["clamp", "contrast", "none"] = "clamp",
        strength: float = 1.0,
        preserve_colors: bool = False,
        tile_size: int = DEFAULT_TILE_SIZE,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        tile_above: int = DEFAULT_TILE_ABOVE,
        clip_model: str | None = None,
        vgg_weights: str | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if not checkpoint:
            raise CheckpointError("no style checkpoint given; pass `checkpoint` checkpoints/<style>/style.ckpt")
        self.stylizer = Stylizer.from_checkpoint(
            checkpoint,
            vgg_weights,
            postprocess=postprocess,
            prompt=prompt,
            clip_model=clip_model,
            tile_size=tile_size,
            tile_overlap=tile_overlap,
            tile_above=tile_above,
            channels_last=channels_last,
            strength=strength,
            preserve_colors=preserve_colors,
            # The trainer's precision plugin (--trainer.precision) decides the autocast.
            precision="32-true",
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.stylizer(images)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """8-bit stylized images on the CPU, grouped as in the batch, plus the batch's failed files."""
        groups, failed = [], list(batch["failed"])
        for indices, images, alphas in batch["groups"]:
            try:
                groups.append((indices, to_uint8(self.stylizer(images)).cpu(), alphas))
            except RuntimeError as error:  # out of memory, typically: costs these images, not the run
                reason = f"stylization failed ({first_line(error)}); try a smaller `tile_size` or `tile_above`"
                failed += [(index, reason) for index in indices]
        return {"groups": groups, "failed": failed}
