"""Blending two style checkpoints: ``(1 - alpha) * A + alpha * B`` on the decoder weights.

``clipstyler-fast interpolate A.ckpt B.ckpt --alpha 0.5 --output C.ckpt`` writes a new style
checkpoint; ``--strip image.jpg --alphas 0,0.25,0.5,0.75,1 --output strip.png`` renders one image
at several blends side by side.
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
from clipstyler_fast.infer.stylizer import (
    MIN_SIDE,
    POSTPROCESS,
    Stylizer,
    pad_to_multiple,
    postprocess,
)
from clipstyler_fast.io.atomic import atomic_write
from clipstyler_fast.io.images import read_rgb, resize_long_side, to_tensors
from clipstyler_fast.nets.decoder import EncoderDecoder, build_decoder
from clipstyler_fast.nets.style_file import StyleFile
from clipstyler_fast.nets.style_folder import source_path
from clipstyler_fast.nets.vgg import VGGEncoder, load_vgg_encoder

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
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
    mixed = (1.0 - alpha) * a.float() + alpha * b.float()
    return mixed.to(a.dtype)


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
            raise self._refuse(
                "encoders",
                ra.encoder,
                rb.encoder,
                "a decoder only works on the encoder it was trained on; blend only styles trained with the same `encoder`",
            )
        if not _same_source(ra.vgg_weights, rb.vgg_weights):
            raise self._refuse("VGG encoders", ra.vgg_weights, rb.vgg_weights, "blend only styles trained on the same `vgg_weights`")
        if not _same_source(ra.clip_model, rb.clip_model):
            raise self._refuse(
                "CLIP models",
                ra.clip_model,
                rb.clip_model,
                "their text directions live in different spaces; blend only styles trained with the same `clip_model`",
            )

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
        if alpha in (0.0, 1.0):  # exactly the end point's own direction
            return (da if alpha == 0.0 else db).clone()
        mixed = blend_tensor(da, db, alpha)
        return mixed / mixed.norm().clamp_min(1e-12)

    def style_file(self, alpha: float) -> StyleFile:
        """The style file of the blend at ``alpha``, usable like any ``style.ckpt``."""
        alpha = check_alpha(alpha)
        first = self.styles[0]
        interpolation = {
            "prompts": list(self.prompts),
            "alpha": alpha,
            "checkpoints": [str(p) for p in self.paths],
            "source_texts": [style.record.source_text for style in self.styles],
        }
        blended = replace(first, weights=self.decoder_state(alpha), text_direction=self.text_direction(alpha), path=None)
        return blended.with_record(prompt=self.label(alpha), interpolation=interpolation)

    def checkpoint(self, alpha: float) -> dict[str, Any]:
        """The blend at ``alpha`` as a checkpoint dict."""
        return self.style_file(alpha).to_checkpoint()

    def encoder(self, vgg_weights: str | None = None) -> VGGEncoder:
        """The shared frozen encoder (the recorded source, or ``vgg_weights`` instead)."""
        record = self.styles[0].record
        return load_vgg_encoder(vgg_weights or record.vgg_weights, record.encoder)

    def stylizer(self, alpha: float, vgg_weights: str | None = None, device: str | torch.device = "cpu", mode: str = "clamp") -> Stylizer:
        """A :class:`Stylizer` for the blend at ``alpha``."""
        decoder = build_decoder()
        decoder.load_state_dict(self.decoder_state(alpha))
        network = EncoderDecoder(self.encoder(vgg_weights), decoder.eval().requires_grad_(False))
        return Stylizer(network, self.label(alpha), mode).to(device)


def interpolate_checkpoints(path_a: str | Path, path_b: str | Path, alpha: float, output: str | Path) -> Path:
    """Write the blend ``(1 - alpha) * A + alpha * B`` of two style checkpoints to ``output`` (atomically)."""
    return StyleBlend(path_a, path_b).style_file(alpha).write(output)


@torch.no_grad()
def render_strip(
    path_a: str | Path,
    path_b: str | Path,
    image: str | Path | Image.Image | torch.Tensor,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    vgg_weights: str | None = None,
    device: str | torch.device = "cpu",
    mode: str = "clamp",
    include_content: bool = False,
    max_side: int | None = None,
) -> Image.Image:
    """Stylize one image at each alpha of the blend A -> B and lay the results side by side.

    ``image`` is a path, a Pillow image or an RGB tensor ``(3, H, W)`` in [0, 1]. The encoder runs
    once; one decoder per alpha. ``include_content`` puts the input first; ``max_side`` shrinks
    the image (keeping its aspect ratio) so its longer side is at most that many pixels.
    """
    if not alphas:
        raise InterpolationError("no alphas given; e.g. `alphas` 0,0.25,0.5,0.75,1")
    alphas = [check_alpha(a) for a in alphas]
    if mode not in POSTPROCESS:
        raise InterpolationError(f"unknown post-processing {mode!r}; use one of {', '.join(POSTPROCESS)}")
    blend = StyleBlend(path_a, path_b)
    content = resize_long_side(_as_tensor(image), max_side, shrink_only=True)
    encoder = blend.encoder(vgg_weights).to(device)
    # Padded as Stylizer pads: to a multiple of 8, and to the decoder's smallest side.
    padded, (height, width) = pad_to_multiple(content[None].to(device), minimum=MIN_SIDE)
    features = encoder(padded)
    decoder = build_decoder().eval().to(device)
    tiles = [content] if include_content else []
    for alpha in alphas:
        decoder.load_state_dict(blend.decoder_state(alpha))
        tiles.append(postprocess(decoder(features)[..., :height, :width], mode)[0].float().cpu())
    return _side_by_side(tiles, STRIP_PADDING)


def _as_tensor(image: str | Path | Image.Image | torch.Tensor) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image.float()
    if isinstance(image, Image.Image):
        return to_tensors(image)[0]
    return read_rgb(image)


def _side_by_side(tiles: list[torch.Tensor], padding: int) -> Image.Image:
    height, width = tiles[0].shape[-2:]
    canvas = torch.ones(3, height, len(tiles) * width + (len(tiles) - 1) * padding)
    for i, tile in enumerate(tiles):
        left = i * (width + padding)
        canvas[:, :, left : left + width] = tile.clamp(0, 1)
    array = (canvas * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


def save_png_atomic(image: Image.Image, path: str | Path) -> Path:
    """Save ``image`` as PNG via a temporary file and a rename, so no partial file is ever left."""
    path = Path(path)
    atomic_write(path, lambda handle: image.save(handle, format="PNG"))
    return path
