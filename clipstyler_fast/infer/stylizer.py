"""Inference: a style file's image-to-image network at an image's own size.

The network is ``decoder(encoder(x))`` (the frozen VGG encoder and the trained decoder) for a
style trained by ``fit``, or the small student network that ``distill`` trained to reproduce one.
CLIP is a training-time network and is never touched here. Images above a pixel budget are stylized in overlapping tiles
(:mod:`clipstyler_fast.tiling`) so that memory stays bounded at any size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, overload

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from clipstyler_fast.constants import POSTPROCESS as POSTPROCESS
from clipstyler_fast.errors import StylizerInputError
from clipstyler_fast.infer.any_prompt import load_style
from clipstyler_fast.infer.controls import apply_controls, check_strength
from clipstyler_fast.infer.network import load_network
from clipstyler_fast.infer.tiling import GRID, stylize_tiled
from clipstyler_fast.io.images import to_tensors
from clipstyler_fast.nets.style_file import StyleFile
from clipstyler_fast.precision import mixed_precision, warn_if_emulated

# Lightning's precision names; "32-true" runs as built, the others under autocast. "auto" is
# bf16-mixed where the hardware computes bf16 natively (see clipstyler_fast.precision), else 32-true.
PRECISIONS = {"32-true": None, "32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
DEFAULT_TILE_SIZE = 1024
DEFAULT_TILE_OVERLAP = 128
# Images with more pixels than this (after padding to a multiple of 8) are stylized in tiles.
DEFAULT_TILE_ABOVE = 2048 * 2048
# The decoder reflection-pads its 1/8-size input by 1 pixel, which needs at least 2 feature pixels
# (an exported model's own reflection padding, by up to 7 pixels, also needs a side of more than 7).
MIN_SIDE = 16
ACCEPTED = "a PIL image, a float tensor (3, H, W) or (B, 3, H, W) in [0, 1], or a list of those"


def pad_to_multiple(images: torch.Tensor, multiple: int = 8, minimum: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` at the bottom/right to a multiple of ``multiple`` (and at least ``minimum``) by reflection.

    Returns the padded batch and the original ``(H, W)`` to crop back to. Images too small to
    reflect (a side shorter than the padding) are padded by replication instead.
    """
    height, width = images.shape[-2:]
    pad_h = max(minimum, height + (-height) % multiple) - height
    pad_w = max(minimum, width + (-width) % multiple) - width
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def postprocess(images: torch.Tensor, mode: str = "clamp") -> torch.Tensor:
    """``clamp`` to [0, 1], the reference's ``contrast`` (contrast x1.5 then per-image min-max
    scaling), or ``none``: the network's raw output (an image file written from it is clamped then)."""
    if mode == "none":
        return images
    if mode == "clamp":
        return images.clamp(0, 1)
    if mode == "contrast":
        from torchvision.transforms.v2.functional import adjust_contrast

        boosted = adjust_contrast(images.float(), 1.5)
        flat = boosted.flatten(1)
        low = flat.min(dim=1).values.view(-1, 1, 1, 1)
        high = flat.max(dim=1).values.view(-1, 1, 1, 1)
        return ((boosted - low) / (high - low).clamp_min(1e-8)).to(images.dtype)
    raise ValueError(f"unknown post-processing {mode!r}; use one of {', '.join(POSTPROCESS)}")


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise images in [0, 1] (any float dtype) to 8 bits, rounding to nearest."""
    return images.float().clamp(0, 1).mul(255).round().to(torch.uint8)


def to_pil(pixels: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """``(3, H, W)`` uint8 pixels (and optional ``(1, H, W)`` alpha in [0, 1]) as an RGB or RGBA image."""
    array = pixels.permute(1, 2, 0).contiguous().cpu().numpy()
    image = Image.fromarray(array, "RGB")
    if alpha is not None:
        image.putalpha(Image.fromarray(to_uint8(alpha)[0].cpu().numpy(), "L"))
    return image


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def check_tensor(images: Any) -> None:
    """Raise :class:`StylizerInputError` unless ``images`` is a float ``(3, H, W)`` or ``(B, 3, H, W)`` tensor."""
    if not isinstance(images, torch.Tensor):
        raise StylizerInputError(f"Stylizer was given {_describe(images)}; it takes {ACCEPTED}")
    channels = images.shape[-3] if images.dim() in (3, 4) else None
    if channels != 3 or not images.is_floating_point() or images.shape[-1] == 0 or images.shape[-2] == 0:
        raise StylizerInputError(f"Stylizer was given {_describe(images)}; it takes {ACCEPTED} (RGB: 3 channels)")
    if not bool(torch.isfinite(images).all()):
        raise StylizerInputError(f"Stylizer was given {_describe(images)} holding NaN or infinite values; give finite values in [0, 1]")


class Stylizer(nn.Module):
    """A trained style network: stylizes RGB images in [0, 1] of any size.

    Build it with :meth:`from_checkpoint`. Calling it on a ``(B, 3, H, W)`` tensor batch returns
    the post-processed batch (same size), on one ``(3, H, W)`` image a ``(3, H, W)`` image; on a
    PIL image it returns a PIL image of the same size, with the input's transparency kept; on a
    list (or tuple) of these, a list of the results. Anything else raises a one-line
    :class:`~clipstyler_fast.errors.StylizerInputError`.

    Args:
        network: the image-to-image network, for sides that are multiples of 8 (see
            :func:`load_network`): ``decoder(encoder(x))`` or a distilled student.
        prompt: the style's prompt, for display.
        postprocess: ``clamp`` (to [0, 1]), ``contrast`` (the reference's contrast boost and
            per-image min-max scaling) or ``none`` (the raw output, which may leave [0, 1]).
        strength: how much of the style, in [0, 1]: 0 returns the photo, 1 the full stylization,
            between them the pixel blend ``photo + strength * (styled - photo)``
            (see :mod:`clipstyler_fast.infer.controls`).
        preserve_colors: keep the photo's colours: the output takes the stylization's luminance
            and the photo's chroma (YCbCr).
        tile_size: side of the tiles large images are cut into (a multiple of 8).
        tile_overlap: overlap of neighbouring tiles (a multiple of 8, at most a third of
            ``tile_size``).
        tile_above: stylize in tiles when an image has more pixels than this (0: always).
        channels_last: run the convolutions in channels-last memory layout (faster on CPUs
            and on GPUs with reduced precision; the result is the same).
        precision: ``auto`` (``bf16-mixed`` where the device computes bf16 natively, else
            ``32-true``; see :func:`clipstyler_fast.precision.mixed_precision`), ``32-true``, ``bf16-mixed`` or
            ``16-mixed``. An outer autocast (Lightning's ``--trainer.precision``) takes precedence.
    """

    def __init__(
        self,
        network: nn.Module,
        prompt: str | None = None,
        postprocess: str = "clamp",
        *,
        strength: float = 1.0,
        preserve_colors: bool = False,
        tile_size: int = DEFAULT_TILE_SIZE,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        tile_above: int = DEFAULT_TILE_ABOVE,
        channels_last: bool = True,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        if postprocess not in POSTPROCESS:
            raise ValueError(f"unknown post-processing {postprocess!r}; use one of {', '.join(POSTPROCESS)}")
        if precision != "auto" and precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use auto or one of {', '.join(PRECISIONS)}")
        if tile_size % GRID or tile_overlap % GRID or tile_overlap < 0 or tile_size < max(3 * tile_overlap, GRID):
            raise ValueError(
                f"tile size {tile_size} and overlap {tile_overlap} must be multiples of {GRID}, "
                "with the overlap at most a third of the tile size"
            )
        self.network = network
        self.prompt = prompt
        # Called as tile_progress(done, total) after each tile of a tiled image (see stylize_tiled).
        self.tile_progress: Callable[[int, int], None] | None = None
        self.postprocess = postprocess
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.tile_above = tile_above
        self.channels_last = channels_last
        self.precision = precision
        self.strength = check_strength(strength)
        self.preserve_colors = bool(preserve_colors)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        vgg_weights: str | None = None,
        device: str | torch.device = "cpu",
        postprocess: str = "clamp",
        *,
        prompt: str | None = None,
        clip_model: str | None = None,
        **options: Any,
    ) -> Stylizer:
        """Load a ``style.ckpt`` / ``last.ckpt``, a distilled ``student.ckpt``, a folder written by
        ``clipstyler-fast share`` or a Hub repository ``hf://user/name[@revision]`` (safely, without running pickled code).

        ``path``, ``prompt`` (an any-prompt checkpoint's style, in words) and ``clip_model`` are as
        :func:`~clipstyler_fast.infer.any_prompt.load_style` takes them. A style's encoder is the one
        it was trained on, from the weights it records; ``vgg_weights`` gives a local copy instead (a
        student needs none). ``options`` are the keyword options of the class. Problems raise a one-line
        :class:`~clipstyler_fast.errors.CheckpointError` or :class:`~clipstyler_fast.errors.WeightsUnavailableError`.
        """
        return cls.from_style(load_style(path, prompt, clip_model), vgg_weights, device, postprocess, **options)

    @classmethod
    def from_style(
        cls,
        style: StyleFile,
        vgg_weights: str | None = None,
        device: str | torch.device = "cpu",
        postprocess: str = "clamp",
        **options: Any,
    ) -> Stylizer:
        """A style already read (:func:`~clipstyler_fast.infer.any_prompt.load_style`), as
        :meth:`from_checkpoint` runs it."""
        return cls(load_network(style, vgg_weights), style.record.prompt, postprocess, **options).to(device)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def autocast_dtype(self, device_type: str) -> torch.dtype | None:
        """The autocast dtype the network runs in on ``device_type`` (None: as built, fp32):
        ``auto`` follows :func:`clipstyler_fast.precision.mixed_precision`; an explicit bf16
        where it is emulated warns once."""
        precision = mixed_precision(device_type) if self.precision == "auto" else self.precision
        dtype = PRECISIONS[precision]
        if dtype is torch.bfloat16 and self.precision != "auto":
            warn_if_emulated(device_type, f"precision {precision}", "auto (bf16 only where native) or 32-true")
        return dtype

    def run_network(self, images: torch.Tensor) -> torch.Tensor:
        """The network on sizes that are multiples of 8, in float32, without post-processing."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        device_type = images.device.type
        dtype = self.autocast_dtype(device_type)
        # Under an outer autocast (Lightning's precision plugin) that one decides.
        use_autocast = dtype is not None and not torch.is_autocast_enabled(device_type)
        with torch.autocast(device_type, dtype=dtype) if use_autocast else contextlib.nullcontext():
            out = self.network(images)
        return out.float().contiguous()

    def stylize(self, images: torch.Tensor) -> torch.Tensor:
        """Raw network output (float32, not post-processed) for ``(B, 3, H, W)`` images of any size.

        Images with more than ``tile_above`` pixels go through overlapping tiles.
        """
        padded, (height, width) = pad_to_multiple(images, GRID, MIN_SIDE)
        if padded.shape[-2] * padded.shape[-1] > self.tile_above:
            out = stylize_tiled(self.run_network, padded, self.tile_size, self.tile_overlap, self.tile_progress)
        else:
            out = self.run_network(padded)
        return out[..., :height, :width]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        styled = postprocess(self.stylize(images), self.postprocess)
        return apply_controls(images, styled, self.strength, self.preserve_colors)

    @overload
    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    @overload
    def __call__(self, images: Image.Image) -> Image.Image: ...

    @overload
    def __call__(self, images: Sequence[Image.Image | torch.Tensor]) -> list[Any]: ...

    def __call__(self, images: Any) -> Any:
        if isinstance(images, (list, tuple)):
            if not images:
                raise StylizerInputError(f"Stylizer was given an empty {type(images).__name__}; give at least one image")
            for i, item in enumerate(images):
                if not isinstance(item, (Image.Image, torch.Tensor)):
                    raise StylizerInputError(
                        f"Stylizer was given a {type(images).__name__} holding {_describe(item)} at index {i}; it takes {ACCEPTED}"
                    )
            return [self._one(item) for item in images]
        return self._one(images)

    def _one(self, images: Any) -> Any:
        """Stylize one ``(3, H, W)`` image, one ``(B, 3, H, W)`` batch or one PIL image of any mode
        (the result is RGB, or RGBA when the input has transparency)."""
        if isinstance(images, Image.Image):
            rgb, alpha = to_tensors(images)
            with torch.inference_mode():
                out = self(rgb[None].to(self.device))
            return to_pil(to_uint8(out[0]), alpha)
        check_tensor(images)
        if images.dim() == 3:
            return super().__call__(images[None])[0]
        return super().__call__(images)
