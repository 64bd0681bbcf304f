"""Blending two style checkpoints: ``(1 - alpha) * A + alpha * B`` on the decoder weights.

``clipstyler-fast interpolate A.ckpt B.ckpt --alpha 0.5 --output C.ckpt`` writes a new style
checkpoint; ``--strip photos/ --alphas 0,0.25,0.5,0.75,1 --output strips/`` renders each image at
several blends side by side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from clipstyler_fast.errors import CheckpointError, InterpolationError
from clipstyler_fast.infer.stylizer import Stylizer, to_pil, to_uint8
from clipstyler_fast.io.atomic import atomic_write
from clipstyler_fast.nets.conditioning import direction_at
from clipstyler_fast.nets.style_file import StyleFile
from clipstyler_fast.nets.style_folder import source_path

STRIP_PADDING = 4


def _same_source(a: str, b: str) -> bool:
    """Whether two recorded weight sources name the same thing (a name, or the same file by two paths)."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        return pa.is_file() and pb.is_file() and os.path.samefile(pa, pb)
    except OSError:
        return False


def blend_tensor(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(1 - alpha) * a + alpha * b`` in float32, in ``a``'s dtype; exact at alpha 0 and 1."""
    return ((1.0 - alpha) * a.float() + alpha * b.float()).to(a.dtype)


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it lies in [0, 1], else raise a one-line :class:`InterpolationError`."""
    if not 0.0 <= alpha <= 1.0 or alpha != alpha:
        raise InterpolationError(f"alpha {alpha} is outside [0, 1]; 0 gives the first style, 1 the second")
    return float(alpha)


class StyleBlend:
    """Two style checkpoints trained on the same encoder and architecture, blendable at any alpha.

    Construction reads both files and refuses (:class:`CheckpointError`, one line) a pair that is
    not two styles, or does not share the encoder, its weights or the CLIP model.
    """

    def __init__(self, path_a: str | Path, path_b: str | Path) -> None:
        self.paths = (source_path(path_a), source_path(path_b))
        self.styles = tuple(StyleFile.read(p).require_style().require_decoder() for p in self.paths)
        self._check_compatible()

    def _refuse(self, what: str, a: Any, b: Any, fix: str) -> CheckpointError:
        pa, pb = self.paths
        return CheckpointError(f"{pa} and {pb} cannot be blended: {what} differ ({a!r} vs {b!r}); {fix}")

    def _check_compatible(self) -> None:
        ra, rb = (style.record for style in self.styles)
        if ra.encoder != rb.encoder:
            fix = "a decoder only works on the encoder it was trained on; blend only styles trained with the same `encoder`"
            raise self._refuse("encoders", ra.encoder, rb.encoder, fix)
        if not _same_source(ra.vgg_weights, rb.vgg_weights):
            raise self._refuse("VGG encoders", ra.vgg_weights, rb.vgg_weights, "blend only styles trained on the same `vgg_weights`")
        if not _same_source(ra.clip_model, rb.clip_model):
            fix = "their text directions live in different spaces; blend only styles trained with the same `clip_model`"
            raise self._refuse("CLIP models", ra.clip_model, rb.clip_model, fix)

    @property
    def prompts(self) -> tuple[str, str]:
        return (str(self.styles[0].record.prompt), str(self.styles[1].record.prompt))

    def label(self, alpha: float) -> str:
        """The prompt recorded for a blend: ``"A + B (alpha 0.25)"``."""
        return f"{self.prompts[0]} + {self.prompts[1]} (alpha {alpha:g})"

    def decoder_state(self, alpha: float) -> dict[str, torch.Tensor]:
        """Decoder weights ``(1 - alpha) * A + alpha * B``."""
        alpha = check_alpha(alpha)
        wa, wb = (style.decoder for style in self.styles)
        return {key: blend_tensor(wa[key], wb[key], alpha) for key in wa}

    def text_direction(self, alpha: float) -> torch.Tensor | None:
        """The blended text direction ``normalize((1 - alpha) dA + alpha dB)``, or None if one is missing."""
        da, db = (style.text_direction for style in self.styles)
        if da is None or db is None or da.shape != db.shape:
            return None
        return direction_at(da.float(), db.float(), alpha).to(da.dtype)

    def style_file(self, alpha: float) -> StyleFile:
        """The style file of the blend at ``alpha``, usable like any ``style.ckpt``."""
        alpha = check_alpha(alpha)
        interpolation = {
            "prompts": list(self.prompts),
            "alpha": alpha,
            "checkpoints": [str(p) for p in self.paths],
            "source_texts": [style.record.source_text for style in self.styles],
        }
        blended = replace(self.styles[0], weights=self.decoder_state(alpha), text_direction=self.text_direction(alpha), path=None)
        return blended.with_record(prompt=self.label(alpha), interpolation=interpolation)

    def stylizer(self, vgg_weights: str | None = None, device: str | torch.device = "cpu", postprocess: str = "clamp") -> Stylizer:
        """A :class:`Stylizer` of the blend at alpha 0, whose decoder :meth:`strip` sets to each alpha in turn."""
        return Stylizer.from_style(self.style_file(0.0), vgg_weights, device, postprocess)

    @torch.no_grad()
    def strip(self, stylizer: Stylizer, image: torch.Tensor, alphas: Sequence[float], include_content: bool = False) -> Image.Image:
        """``image`` (RGB ``(3, H, W)`` in [0, 1]) stylized at each alpha and laid side by side.

        ``stylizer`` comes from :meth:`stylizer`: it tiles large images and picks the precision as
        every other stylization does; only its decoder's weights change from one alpha to the next.
        """
        if not alphas:
            raise InterpolationError("no alphas given; e.g. `alphas` 0,0.25,0.5,0.75,1")
        tiles = [image.float()] if include_content else []
        for alpha in alphas:
            stylizer.network.decoder.load_state_dict(self.decoder_state(alpha))
            tiles.append(stylizer(image.to(stylizer.device)).float().cpu())
        height, width = tiles[0].shape[-2:]
        canvas = torch.ones(3, height, len(tiles) * width + (len(tiles) - 1) * STRIP_PADDING)
        for i, tile in enumerate(tiles):
            left = i * (width + STRIP_PADDING)
            canvas[:, :, left : left + width] = tile.clamp(0, 1)
        return to_pil(to_uint8(canvas))


def interpolate_checkpoints(path_a: str | Path, path_b: str | Path, alpha: float, output: str | Path) -> Path:
    """Write the blend ``(1 - alpha) * A + alpha * B`` of two style checkpoints to ``output`` (atomically)."""
    return StyleBlend(path_a, path_b).style_file(alpha).write(output)


def save_png_atomic(image: Image.Image, path: str | Path) -> Path:
    """Save ``image`` as PNG via a temporary file and a rename, so no partial file is ever left."""
    path = Path(path)
    atomic_write(path, lambda handle: image.save(handle, format="PNG"))
    return path
