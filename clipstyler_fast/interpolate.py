"""Blending two style checkpoints: ``(1 - alpha) * A + alpha * B`` on the decoder weights.

``clipstyler-fast interpolate A.ckpt B.ckpt --alpha 0.5 --output C.ckpt`` writes a new style
checkpoint; ``--strip image.jpg --alphas 0,0.25,0.5,0.75,1 --output strip.png`` renders one image
at several blends side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from .atomic import atomic_write
from .checkpoints import CheckpointError, atomic_torch_save, check_format, check_state_dict, load_checkpoint_file
from .decoder import build_decoder
from .images import read_rgb
from .stylizer import POSTPROCESS, Stylizer, pad_to_multiple, postprocess
from .vgg import VGGEncoder, load_vgg_encoder

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
STRIP_PADDING = 4


class InterpolationError(ValueError):
    """A blend that cannot be made (bad alpha, mismatched checkpoints); ``str()`` is one line."""


def _decoder_weights(checkpoint: dict[str, Any], path: str | Path) -> dict[str, torch.Tensor]:
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no model weights in this checkpoint")
    weights = {k.removeprefix("decoder."): v for k, v in state.items() if k.startswith("decoder.")}
    check_state_dict(build_decoder().state_dict(), weights, path, "decoder")
    return weights


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

    Construction loads both files and refuses (:class:`CheckpointError`, one line) a pair that does
    not share the format version, the architecture, the decoder shapes, the VGG weights or the CLIP
    model.
    """

    def __init__(self, path_a: str | Path, path_b: str | Path) -> None:
        self.paths = (Path(path_a), Path(path_b))
        self.checkpoints = tuple(load_checkpoint_file(p) for p in self.paths)
        self.metas = tuple(check_format(c, p) for c, p in zip(self.checkpoints, self.paths))
        self.weights = tuple(_decoder_weights(c, p) for c, p in zip(self.checkpoints, self.paths))
        self._check_compatible()

    def _refuse(self, what: str, a: Any, b: Any, fix: str) -> CheckpointError:
        pa, pb = self.paths
        return CheckpointError(f"{pa} and {pb} cannot be blended: {what} differ ({a!r} vs {b!r}); {fix}")

    def _check_compatible(self) -> None:
        ma, mb = self.metas
        if ma.get("format_version") != mb.get("format_version"):
            raise self._refuse("format versions", ma.get("format_version"), mb.get("format_version"), "retrain one of them with this version")
        if ma.get("architecture") != mb.get("architecture"):
            raise self._refuse("architectures", ma.get("architecture"), mb.get("architecture"), "only checkpoints of the same network can be blended")
        wa, wb = self.weights
        for key, tensor in wa.items():
            if tuple(tensor.shape) != tuple(wb[key].shape):
                raise self._refuse(f"decoder shapes of {key}", tuple(tensor.shape), tuple(wb[key].shape), "only checkpoints of the same network can be blended")
        ea, eb = (m["encoder"] for m in self.metas)
        if ea != eb:
            raise self._refuse("encoders", ea, eb, "a decoder only works on the encoder it was trained on; blend only styles trained with the same --model.encoder")
        va, vb = (self.vgg_source(i) for i in (0, 1))
        if not _same_source(va, vb):
            raise self._refuse("VGG encoders", va, vb, "blend only styles trained on the same --model.vgg_weights")
        ca, cb = (str(m.get("clip_model", "")) for m in self.metas)
        if not _same_source(ca, cb):
            raise self._refuse("CLIP models", ca, cb, "their text directions live in different spaces; blend only styles trained with the same --model.clip_model")

    def hparams(self, index: int) -> dict[str, Any]:
        return dict(self.checkpoints[index].get("hyper_parameters") or {})

    def vgg_source(self, index: int) -> str:
        """The VGG weights the checkpoint was trained on (as recorded in it)."""
        return str(self.metas[index]["vgg_weights"])

    @property
    def prompts(self) -> tuple[str, str]:
        return tuple(str(m.get("prompt")) for m in self.metas)  # type: ignore[return-value]

    def label(self, alpha: float) -> str:
        """The prompt recorded for a blend: ``"A + B (alpha 0.25)"``."""
        return f"{self.prompts[0]} + {self.prompts[1]} (alpha {alpha:g})"

    def decoder_state(self, alpha: float) -> dict[str, torch.Tensor]:
        """Decoder weights ``(1 - alpha) * A + alpha * B``."""
        alpha = check_alpha(alpha)
        wa, wb = self.weights
        return {key: blend_tensor(wa[key], wb[key], alpha) for key in wa}

    def text_direction(self, alpha: float) -> torch.Tensor | None:
        """The blended text direction ``normalize((1 - alpha) dA + alpha dB)``, or None if one is missing."""
        da, db = (c["state_dict"].get("text_direction") for c in self.checkpoints)
        if da is None or db is None or da.shape != db.shape or da.numel() == 0:
            return None
        if alpha in (0.0, 1.0):  # exactly the end point's own direction
            return (da if alpha == 0.0 else db).clone()
        mixed = blend_tensor(da, db, alpha)
        return mixed / mixed.norm().clamp_min(1e-12)

    def checkpoint(self, alpha: float) -> dict[str, Any]:
        """A complete style checkpoint for the blend at ``alpha``, loadable like any ``style.ckpt``."""
        alpha = check_alpha(alpha)
        base = self.checkpoints[0]
        state: dict[str, torch.Tensor] = {f"decoder.{k}": v for k, v in self.decoder_state(alpha).items()}
        direction = self.text_direction(alpha)
        if direction is not None:
            state = {"text_direction": direction, **state}
        label = self.label(alpha)
        hparams = {**self.hparams(0), "prompt": label}
        meta = {
            **self.metas[0],
            "prompt": label,
            "interpolation": {
                "prompts": list(self.prompts),
                "alpha": alpha,
                "checkpoints": [str(p) for p in self.paths],
                "source_texts": [str(m.get("source_text", "a Photo")) for m in self.metas],
            },
        }
        out: dict[str, Any] = {
            "state_dict": state,
            "hyper_parameters": hparams,
            "clipstyler_fast": meta,
        }
        for key in ("pytorch-lightning_version", "hparams_name"):
            if key in base:
                out[key] = base[key]
        return out

    def encoder(self, vgg_weights: str | None = None) -> VGGEncoder:
        """The shared frozen encoder (the recorded source, or ``vgg_weights`` instead)."""
        return load_vgg_encoder(vgg_weights or self.vgg_source(0), self.metas[0]["encoder"])

    def stylizer(self, alpha: float, vgg_weights: str | None = None, device: str | torch.device = "cpu", mode: str = "clamp") -> Stylizer:
        """A :class:`Stylizer` for the blend at ``alpha``."""
        decoder = build_decoder()
        decoder.load_state_dict(self.decoder_state(alpha))
        return Stylizer(self.encoder(vgg_weights), decoder.eval().requires_grad_(False), self.label(alpha), mode).to(device)


def interpolate_checkpoints(path_a: str | Path, path_b: str | Path, alpha: float, output: str | Path) -> Path:
    """Write the blend ``(1 - alpha) * A + alpha * B`` of two style checkpoints to ``output`` (atomically)."""
    blend = StyleBlend(path_a, path_b)
    output = Path(output)
    atomic_torch_save(blend.checkpoint(alpha), output)
    return output


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
        raise InterpolationError("no alphas given; e.g. --alphas 0,0.25,0.5,0.75,1")
    alphas = [check_alpha(a) for a in alphas]
    if mode not in POSTPROCESS:
        raise InterpolationError(f"unknown post-processing {mode!r}; use one of {', '.join(POSTPROCESS)}")
    blend = StyleBlend(path_a, path_b)
    content = _as_tensor(image)
    if max_side is not None and max(content.shape[-2:]) > max_side:
        scale = max_side / max(content.shape[-2:])
        size = [max(1, round(s * scale)) for s in content.shape[-2:]]
        content = torch.nn.functional.interpolate(content[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
    encoder = blend.encoder(vgg_weights).to(device)
    padded, (height, width) = pad_to_multiple(content[None].to(device))
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
        from .images import to_tensors

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


def parse_alphas(text: str) -> list[float]:
    """``"0,0.25,0.5"`` -> ``[0.0, 0.25, 0.5]`` (argparse type)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 0,0.25,0.5,0.75,1") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one alpha, e.g. 0,0.5,1")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipstyler-fast interpolate",
        description=textwrap.fill(
            "Blend two style checkpoints by interpolating their decoder weights: (1 - alpha) * A + alpha * B. "
            "Both must be trained on the same VGG weights and CLIP model. Writes a new style checkpoint, "
            "or with --strip renders one image at several alphas side by side."
        ),
        epilog=(
            "examples:\n"
            "  clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --alpha 0.5 --output blend.ckpt\n"
            "  clipstyler-fast interpolate mosaic/style.ckpt sketch/style.ckpt --strip photo.jpg "
            "--alphas 0,0.25,0.5,0.75,1 --output strip.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint_a", help="style checkpoint at alpha 0")
    parser.add_argument("checkpoint_b", help="style checkpoint at alpha 1")
    parser.add_argument("--output", "-o", required=True, help="checkpoint to write (.ckpt), or the PNG strip with --strip")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of B in the new checkpoint, in [0, 1] (default 0.5)")
    parser.add_argument("--strip", metavar="IMAGE", help="render this image at each of --alphas into one PNG instead of writing a checkpoint")
    parser.add_argument("--alphas", type=parse_alphas, default=list(DEFAULT_ALPHAS), help="comma-separated alphas for --strip (default 0,0.25,0.5,0.75,1)")
    parser.add_argument("--include_content", action="store_true", help="put the input image first in the strip")
    parser.add_argument("--max_side", type=int, default=None, help="shrink the strip image so its longer side is at most this (default: full size)")
    parser.add_argument("--postprocess", choices=POSTPROCESS, default="clamp", help="clamp to [0, 1], or the reference's contrast boost and min-max scaling")
    parser.add_argument("--vgg_weights", default=None, help="local copy of the encoder weights the checkpoint was trained on, instead of the source it records (offline machines)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    return parser


class DeviceError(ValueError):
    """A ``--device`` that does not exist here; ``str()`` is one line."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given, if this machine has it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name}: not a device name; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise DeviceError(f"--device {name}: no such CUDA device on this machine ({torch.cuda.device_count()} found); use --device cpu")
    return device


def main(argv: list[str]) -> int:
    """``clipstyler-fast interpolate``; returns the exit status."""
    from .cli import USER_ERRORS

    args = build_parser().parse_args(argv)
    try:
        if args.strip:
            strip = render_strip(
                args.checkpoint_a,
                args.checkpoint_b,
                args.strip,
                args.alphas,
                vgg_weights=args.vgg_weights,
                device=resolve_device(args.device),
                mode=args.postprocess,
                include_content=args.include_content,
                max_side=args.max_side,
            )
            path = save_png_atomic(strip, args.output)
            print(f"wrote {path} ({len(args.alphas)} alphas: {', '.join(f'{a:g}' for a in args.alphas)})")
            return 0
        if Path(args.output).suffix.lower() in (".png", ".jpg", ".jpeg"):
            raise InterpolationError(f"{args.output}: an image name, but no --strip IMAGE was given; pass --strip or a .ckpt output")
        path = interpolate_checkpoints(args.checkpoint_a, args.checkpoint_b, check_alpha(args.alpha), args.output)
        print(f"wrote {path} (alpha {args.alpha:g}: {1 - args.alpha:g} x {args.checkpoint_a} + {args.alpha:g} x {args.checkpoint_b})")
        return 0
    except (*USER_ERRORS, InterpolationError, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
