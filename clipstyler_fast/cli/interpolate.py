"""``clipstyler-fast interpolate``: blend two style checkpoints, or render a strip of blends."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from clipstyler_fast.errors import InterpolationError
from clipstyler_fast.infer.blend import (
    DEFAULT_ALPHAS,
    check_alpha,
    interpolate_checkpoints,
    render_strip,
    save_png_atomic,
)
from clipstyler_fast.infer.device import resolve_device
from clipstyler_fast.infer.stylizer import POSTPROCESS


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


def main(argv: list[str]) -> int:
    """``clipstyler-fast interpolate``; returns the exit status."""
    args = build_parser().parse_args(argv)
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
